"""The latent views in real Chromium: Prior and holes, Directions, and the Interpolation page's diagnostics.

Each page is opened from the sidebar, checked for what it draws, timed (navigation click -> script done), and
screenshotted for the README (docs/screenshots under `make screenshots`). The Directions slider is dragged with real
pointer events and the time from release to the redrawn page is measured. Timings are printed and written to
tests/artifacts/latent_views_latency.json, never asserted.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from browser_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    EXCEPTION,
    FIRST_LOAD_MS,
    MAIN,
    local_only,
    open_page,
    save_small_png,
    screenshot_path,
    settle_for_screenshot,
    streamlit_server,
    wait_until_idle,
)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

pytestmark = pytest.mark.browser

TALL_VIEWPORT = {"width": 1280, "height": 1900}  # the main area scrolls inside the app: a tall window shows it all
MAX_SCREENSHOT_BYTES = 400_000
TIMINGS: dict[str, float] = {}
SEED_B = 10  # with seed 0, two 16-D prior codes 120 degrees apart (cosine -0.51): lerp's midpoint has half the norm


@pytest.fixture(scope="module")
def app_url():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)")
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def session(app_url):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=TALL_VIEWPORT)
        local_only(context, app_url)
        page = context.new_page()
        page.goto(app_url)
        wait_until_idle(page, FIRST_LOAD_MS)
        yield page
        browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    timings = {name: round(seconds, 2) for name, seconds in TIMINGS.items()}
    (ARTIFACTS / "latent_views_latency.json").write_text(json.dumps(
        {"seconds": timings, "load_1min": round(os.getloadavg()[0], 2)}, indent=2))
    print("\nlatent views, seconds:", timings, f"(load {os.getloadavg()[0]:.1f})")


def timed_open(page, title: str, model: str = "mnist-2d") -> None:
    started = time.perf_counter()
    open_page(page, title)
    TIMINGS[f"open {title} ({model})"] = time.perf_counter() - started
    shown = page.locator(EXCEPTION)
    assert shown.count() == 0, f"exception on {title}: {shown.first.inner_text()[:500]}"


def save(page, name: str, top_text: str | None = None) -> None:
    """Screenshot the page (from the element showing `top_text` down, if given) as docs/screenshots/name."""
    settle_for_screenshot(page)
    clip = None
    if top_text:
        top = page.locator(MAIN).get_by_text(top_text).first.bounding_box()
        clip = {"x": 0, "y": max(0, top["y"] - 20), "width": TALL_VIEWPORT["width"],
                "height": TALL_VIEWPORT["height"] - max(0, top["y"] - 20)}
    size = save_small_png(page.screenshot(clip=clip), screenshot_path(name))
    assert size < MAX_SCREENSHOT_BYTES, f"{name} is {size} bytes"


def test_prior_and_holes_draws_the_density_the_circles_and_three_rows_of_decoded_samples(session):
    timed_open(session, "Prior and holes")
    main = session.locator(MAIN)
    assert main.get_by_text("KL(p(z) || q(z))").count() == 1
    for row in ("holes (lowest q)", "typical (median q)", "densest (highest q)"):
        assert main.get_by_text(row).count() == 1
    session.wait_for_function("() => document.querySelector('[data-testid=stPlotlyChart] .contour') !== null",
                              timeout=60_000)
    save(session, "prior-and-holes.png")


def test_directions_slider_dragged_with_the_pointer_moves_the_current_point(session):
    timed_open(session, "Directions")
    main = session.locator(MAIN)
    assert main.get_by_text("amount 0.50").count() == 1
    thumb = main.locator("[data-testid=stSliderThumbValue]").first.locator("xpath=..")  # the thumb holds its value
    box = thumb.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    session.mouse.move(x, y)
    session.mouse.down()
    for step in range(1, 21):
        session.mouse.move(x + 12 * step, y)
        session.wait_for_timeout(16)
    released = time.perf_counter()
    session.mouse.up()
    main.get_by_text(re.compile(r"^amount (0\.[6-9]\d|1\.\d\d)$")).wait_for(timeout=60_000)
    wait_until_idle(session)
    TIMINGS["directions: slider release -> redrawn"] = time.perf_counter() - released
    assert main.get_by_text("amount 0.50").count() == 0
    save(session, "directions.png")


def pick_model(page, name: str) -> None:
    """Choose a checkpoint in the sidebar's picker, as a user does (click the box, click the option)."""
    page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").first.click()
    page.get_by_role("option", name=re.compile(name)).first.click()
    page.wait_for_timeout(300)
    wait_until_idle(page)


def test_interpolation_diagnostics_of_a_16d_model_show_lerp_leaving_the_shell(session):
    """Last: it switches the session to the 16-D model, whose holes are screenshotted too."""
    pick_model(session, "mnist-conv")
    timed_open(session, "Interpolation", "mnist-conv")
    main = session.locator(MAIN)
    main.get_by_text("Random prior samples").click()
    session.wait_for_timeout(300)
    wait_until_idle(session)
    seed = main.get_by_label("Seed B", exact=True)
    seed.fill(str(SEED_B))
    seed.press("Enter")
    session.wait_for_timeout(300)
    wait_until_idle(session)
    assert main.get_by_text(re.compile("slerp turns along the shell")).count() == 1
    session.wait_for_function(
        "() => document.querySelectorAll('[data-testid=stVegaLiteChart], [data-testid=stArrowVegaLiteChart]')"
        ".length >= 3", timeout=60_000)
    save(session, "interpolation-diagnostics.png", top_text="Linear (lerp)")
    timed_open(session, "Prior and holes", "mnist-conv")
    assert session.locator(MAIN).get_by_text("PCA plane of the codes").count() == 1
    save(session, "prior-and-holes-16d.png")
