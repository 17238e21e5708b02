"""A link copied after real work (a drag on the pad; a projection change and a lasso on the scatter), opened in a
new browser context, restores the same code, projection and selection. The time from opening the link to the
restored view goes to tests/artifacts/links.json (benchmarks/RESULTS.md, "Links (issue 21)")."""

from __future__ import annotations

import json
import os
import re
import time

import numpy as np
import pytest
from support.browser import (
    ARTIFACTS,
    CANVAS_PAD,
    FIRST_LOAD_MS,
    INSPECTOR,
    MAIN,
    arc_across_pad,
    choose_radio,
    code_on_release,
    drag_on_canvas,
    new_page,
    open_app,
    results_artifact,
    save_small_png,
    screenshot_path,
    wait_for_inspector,
    wait_until_idle,
)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

pytestmark = pytest.mark.browser

STAGE = f"{INSPECTOR} .stage"
RESULTS: dict = {}
results = results_artifact(ARTIFACTS / "links.json", RESULTS)
FIRST_FRAME = "() => performance.getEntriesByName('latent-canvas:frame')[0]?.detail.z ?? null"


def copy_link(page) -> str:
    """The link the page's "Copy link" shows (its code block's copy button copies exactly this text)."""
    page.locator(MAIN).get_by_role("button", name=re.compile("Copy link")).click()
    code = page.locator("[data-testid=stPopoverBody] [data-testid=stCode]")
    code.wait_for(timeout=10_000)
    link = code.inner_text().strip()
    page.keyboard.press("Escape")
    return link


def link_once_it_has(page, param: str) -> str:
    """The copied link once it holds `param`: a pan or zoom goes to the server when it has rested, then into the
    link."""
    link = ""
    for _ in range(20):
        wait_until_idle(page)
        link = copy_link(page)
        if param in link:
            return link
        page.wait_for_timeout(500)
    raise AssertionError(f"{param} never reached the link: {link}")


def open_link(browser, url: str, link: str):
    """The link in a new context (its own session); returns the page and the seconds it took to load."""
    page = new_page(browser, url)
    started = time.perf_counter()
    page.goto(link)
    wait_until_idle(page, FIRST_LOAD_MS)
    return page, started


def test_a_link_copied_after_a_drag_restores_the_code_in_a_new_context(browser, app_url):
    page = open_app(browser, app_url, "/sliders")
    code_on_release(page)  # the canvas decodes
    drag = drag_on_canvas(page, CANVAS_PAD, arc_across_pad)
    page.locator(MAIN).get_by_text(re.compile(r"Code as of your last release: z0 = (?!\+0\.00, z1 = \+0\.00)")) \
        .wait_for(timeout=30_000)
    wait_until_idle(page)
    link = copy_link(page)
    assert "/sliders?" in link and "z=" in link

    fresh, started = open_link(browser, app_url, link)
    z = fresh.wait_for_function(FIRST_FRAME, timeout=60_000).json_value()
    RESULTS["sliders_restored_s"] = round(time.perf_counter() - started, 2)
    np.testing.assert_allclose(z, np.clip(drag.z, -3, 3), atol=1e-3)  # 4 decimals in the URL; sliders span +-3
    save_small_png(fresh.screenshot(), screenshot_path("link-sliders.png"))
    fresh.context.close()
    page.context.close()


def selected_count(page) -> int:
    heading = page.locator(MAIN).get_by_role("heading", name=re.compile(r"^[\d,]+ selected"))
    heading.wait_for(timeout=60_000)
    return int(heading.inner_text().split(" ")[0].replace(",", ""))


def lasso(page, size: float = 0.015) -> None:
    page.locator(f"{INSPECTOR} .tool[data-tool=lasso]").click()
    box = page.locator(STAGE).bounding_box()
    centre = np.array([box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5])
    angles = np.linspace(0, 2 * np.pi, 30)
    ring = np.round(centre + np.column_stack([np.cos(angles), np.sin(angles)]) * [box["width"] * size,
                                                                                  box["height"] * size])
    page.mouse.move(*map(float, ring[0]))
    page.mouse.down()
    for x, y in ring[1:]:
        page.mouse.move(float(x), float(y))
    page.mouse.up()


def test_a_link_copied_after_a_projection_change_and_a_lasso_restores_both_in_a_new_context(browser, app_url):
    page = open_app(browser, app_url, "/scatter")
    wait_for_inspector(page, FIRST_LOAD_MS)
    choose_radio(page, "Projection", "PCA")
    wait_for_inspector(page, FIRST_LOAD_MS)
    lasso(page)
    count = selected_count(page)
    assert 5 < count <= 500, count
    wait_until_idle(page)
    link = copy_link(page)
    assert "sel=" in link and "pca" in link

    fresh, started = open_link(browser, app_url, link)
    wait_for_inspector(fresh, FIRST_LOAD_MS)
    fresh.locator(f"{INSPECTOR}[data-selected='{count}']").wait_for(state="attached", timeout=30_000)
    RESULTS["scatter_restored_s"] = round(time.perf_counter() - started, 2)
    assert selected_count(fresh) == count
    projection = fresh.locator(MAIN).locator("[data-testid=stRadio]").filter(has_text="Projection")
    assert projection.get_by_role("radio", name="PCA").is_checked()
    save_small_png(fresh.screenshot(), screenshot_path("link-scatter.png"))
    RESULTS["load_1min"] = round(os.getloadavg()[0], 2)
    fresh.context.close()
    page.context.close()


def zoom_in(page, target: str, at: tuple[float, float], notches: int) -> dict:
    """Wheel notches over `target` at a fraction `at` of its box (it zooms about the pointer); returns the box."""
    box = page.locator(target).bounding_box()
    page.mouse.move(box["x"] + box["width"] * at[0], box["y"] + box["height"] * at[1])
    for _ in range(notches):
        page.mouse.wheel(0, -150)
        page.wait_for_timeout(50)
    return box


def transform(page) -> dict:
    return json.loads(page.locator(INSPECTOR).get_attribute("data-transform"))


def test_a_link_copied_after_zooming_and_panning_the_scatter_restores_the_same_region_in_a_new_context(
        browser, app_url):
    page = open_app(browser, app_url, "/scatter")
    wait_for_inspector(page, FIRST_LOAD_MS)
    fitted = transform(page)
    box = zoom_in(page, STAGE, (0.3, 0.4), notches=4)
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.45, steps=8)  # pans
    page.mouse.up()
    zoomed = transform(page)
    assert zoomed["sx"] > 1.5 * fitted["sx"] and zoomed["cx"] != fitted["cx"]
    page.locator(MAIN).get_by_text(re.compile("Copy link")).wait_for(timeout=30_000)
    link = link_once_it_has(page, "zoom=")

    fresh, started = open_link(browser, app_url, link)
    wait_for_inspector(fresh, FIRST_LOAD_MS)
    RESULTS["scatter_zoom_restored_s"] = round(time.perf_counter() - started, 2)
    restored = transform(fresh)
    for key in ("cx", "cy", "sx", "sy"):  # the same stage size: the same transform, to the link's 6 digits
        assert restored[key] == pytest.approx(zoomed[key], rel=1e-4, abs=1e-5), key
    save_small_png(fresh.screenshot(), screenshot_path("link-scatter-zoom.png"))
    fresh.context.close()
    page.context.close()


def pad_view(page) -> dict:
    return json.loads(page.locator(CANVAS_PAD).get_attribute("data-view"))


def test_a_link_copied_after_zooming_the_latent_pad_restores_its_view_in_a_new_context(browser, app_url):
    page = open_app(browser, app_url, "/sliders")
    code_on_release(page)  # the canvas runs
    start = pad_view(page)
    zoom_in(page, CANVAS_PAD, (0.7, 0.3), notches=3)
    zoomed = pad_view(page)
    assert zoomed["extent"] < 0.7 * start["extent"]
    link = link_once_it_has(page, "pad=")

    fresh, started = open_link(browser, app_url, link)
    code_on_release(fresh)
    fresh.locator(f"{CANVAS_PAD}[data-view]").wait_for(state="attached", timeout=30_000)
    RESULTS["pad_view_restored_s"] = round(time.perf_counter() - started, 2)
    restored = pad_view(fresh)
    assert restored["extent"] == pytest.approx(zoomed["extent"], rel=1e-3)  # 4 digits in the link
    assert restored["centre"] == pytest.approx(zoomed["centre"], rel=1e-3, abs=1e-4)
    fresh.context.close()
    page.context.close()
