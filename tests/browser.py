"""A real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) for the web page.

Shared by the browser tests and by `tools/web_screenshots.py`, so the README's screenshots show
the page exactly as the tests see it.
"""

from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTHS = {"phone": 360, "desktop": 1400}
# What the page's status line says while a file is being classified.
CLASSIFYING = "Classifying…"


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, width: int, height: int = 900):
    """A fresh page at `width` px; returns it once the model's details are shown."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_function("() => !document.getElementById('model').textContent.startsWith('Loading')", timeout=30_000)
    return page


# Installed before an upload: remembers every status text any card showed, so a state that
# lasts only a few milliseconds ("Classifying…") is still seen.
RECORD_STATUSES = """() => {
  window.seenStatuses = new Set();
  new MutationObserver(() => {
    for (const s of document.querySelectorAll('#results .status')) window.seenStatuses.add(s.textContent);
  }).observe(document.getElementById('results'), {childList: true, subtree: true, characterData: true});
}"""


def classify_files(page, files, timeout_ms: float = 60_000) -> list[str]:
    """Choose `files` through the labelled file input; wait until every card has its outcome.

    Returns the status texts the cards showed on the way.
    """
    page.evaluate(RECORD_STATUSES)
    page.get_by_label("Choose images…").set_input_files(files)
    page.wait_for_function(
        "n => document.querySelectorAll('#results .card').length === n"
        " && !document.querySelector('#results .card[aria-busy=true]')",
        arg=len(files),
        timeout=timeout_ms,
    )
    return page.evaluate("Array.from(window.seenStatuses)")


def box(locator) -> dict:
    """The element's bounding box in page (not viewport) coordinates."""
    return locator.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; }"
    )


def overlap(a: dict, b: dict) -> bool:
    """True when two boxes share an area (touching edges do not count)."""
    return (
        min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"]) > 0.5
        and min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"]) > 0.5
    )


def inside(inner: dict, outer: dict) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["y"] >= outer["y"] - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5
    )
