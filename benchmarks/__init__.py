"""Benchmarks: training speed against a tutorial-style baseline, model quality, interactivity and memory.

`python -m benchmarks` prints one table per measurement and writes them to benchmarks/RESULTS.md;
`--quick` is the CI variant (small data, few repeats) and only prints.
"""
