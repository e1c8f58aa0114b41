"""The dashboard in headless Chromium (playwright, Debian's /usr/bin/chromium, offline): no console errors, every
plotly figure drawn with data, WebGL figures (mesh, parallel coordinates) drawn, tables sort on click. A full-page
screenshot is saved to test-artifacts/dashboard.png for people to look at.

The page is the one test_dashboards.py builds from its real MLflow store when both run in one session; run alone,
this module builds the same store itself.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from test_dashboards import build_demo, demo_store

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (`make test` installs "
                                "Debian's chromium package)")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, open_hand_arrays) -> Path:
    built = tmp_path_factory.getbasetemp() / "dashboard-demo" / "index.html"
    if not built.exists():
        with demo_store(tmp_path_factory.mktemp("dashboard-root"), open_hand_arrays) as store:
            build_demo(store, built.parent)
    return built


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # a persistent context is how playwright takes a user data dir: a fresh, empty one
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=FLAGS, viewport={"width": 1400, "height": 900})
        try:
            yield context.new_page()
        finally:
            context.close()


def test_dashboard_renders_in_chromium(dashboard, browser_page):
    page, errors = browser_page, []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(dashboard.as_uri(), wait_until="load")
    expected = dashboard.read_text().count('class="plotly-graph-div"')
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length === {expected}", timeout=60_000)
    page.wait_for_timeout(1500)  # WebGL scenes draw after newPlot resolves

    plots = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => ({
        id: d.id, traces: (d.data || []).length,
        points: (d.data || []).reduce((n, t) => n + ((t.x || t.values || t.dimensions || t.i || [1]).length || 1), 0),
        height: d.getBoundingClientRect().height}))""")
    assert len(plots) == expected == 12
    for plot in plots:
        assert plot["traces"] > 0 and plot["points"] > 0 and plot["height"] > 200, plot
    assert "WebGL is not supported" not in page.inner_text("body")
    assert page.locator(".gl-container canvas").count() >= 2  # the mesh and the parallel coordinates drew
    assert errors == []

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_tables_sort_on_click(dashboard, browser_page):
    page = browser_page
    if page.url != dashboard.as_uri():
        page.goto(dashboard.as_uri(), wait_until="load")
    table = page.locator("#comparison-synthetic-freihand")
    mpjpe_column = 3 + 1  # Run, Stage, Variant, AUC_J, MPJPE: the 5th header
    values = lambda: [float(v) for v in table.locator(f"tbody td:nth-child({mpjpe_column + 1})")  # noqa: E731
                      .evaluate_all("cells => cells.map(c => c.dataset.v)")]
    header = table.locator(f"thead th:nth-child({mpjpe_column + 1})")
    header.click()
    assert values() == sorted(values()) and header.get_attribute("data-dir") == "asc"
    header.click()
    assert values() == sorted(values(), reverse=True) and header.get_attribute("data-dir") == "desc"
