"""What the tests share, by topic: no test module imports another.

paths (the checkout's folders and files), models (tiny real models), jobs (waiting on background work),
worker_jobs (functions job-queue workers import by name), data (files in MNIST's and users' layouts), apptest (the
app driven through AppTest), train_page (the Train page's fixtures and steps), browser (a server and Chromium, for
the browser tests and the benchmarks), canvas (the latent canvas's test app), latent_views (the shipped
checkpoints with their codes), draw_pad (strokes on the draw pad), decoded_map (the decoded map's tiles).
Fixtures that several modules use are registered in tests/conftest.py.
"""
