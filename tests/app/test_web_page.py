"""The web page as a person sees it, in a real headless Chromium at phone and desktop widths.

Assertions are about what is visible: element boxes (inside the viewport, not overlapping),
displayed or not, the text on each result card. Screenshots land in the test's temp dir.
"""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.app.conftest import MODEL_URI
from tests.app.test_serving import b64, digit_pixels
from tests.helpers import (
    CHROMIUM,
    CLASSIFYING,
    WIDTHS,
    box,
    chromium,
    classify_files,
    inside,
    open_page,
    overlap,
    web_page,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian chromium not at /usr/bin/chromium (make test installs it)"
    ),
]
UPLOAD_LIMIT_MB = 1.0


@pytest.fixture(scope="module")
def page_url(trained_model, tmp_path_factory):
    with web_page(MODEL_URI, trained_model[0], tmp_path_factory.mktemp("web"), max_upload_mb=UPLOAD_LIMIT_MB) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def upload_files(tmp_path_factory):
    """Three real digits (two at their native 8x8, one scaled up like a photo), then two bad files."""
    folder = tmp_path_factory.mktemp("uploads")
    pixels = digit_pixels(3)
    files = []
    for i, p in enumerate(pixels):
        image = Image.fromarray(p)
        if i == 1:
            image = image.resize((160, 160), Image.Resampling.NEAREST)
        files.append(folder / f"digit{i}.png")
        image.save(files[-1])
    (folder / "notes.png").write_text("a text file with an image suffix")
    (folder / "huge.png").write_bytes(np.random.default_rng(0).bytes(int(1.5 * 1024 * 1024)))
    return [*files, folder / "notes.png", folder / "huge.png"]


def page_width_fits(page, width: int) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("device", WIDTHS)
def test_before_an_upload_the_page_shows_the_model_and_nothing_broken(
    page_url, browser, pyfunc_model, device, tmp_path
):
    width = WIDTHS[device]
    page = open_page(browser, page_url, width)
    page.screenshot(path=str(tmp_path / f"empty-{device}.png"), full_page=True)

    # Nothing that belongs to a result is displayed: no image (so no broken-image icon), no toolbar.
    assert page.locator("img").count() == 0
    assert not page.locator("#toolbar").is_visible()
    assert page.locator("#results .card").count() == 0
    model_line = page.inner_text("#model")
    assert "digits-classifier version 1" in model_line, model_line
    classes = pyfunc_model.unwrap_python_model().class_names
    assert page.locator("#classes li").all_inner_texts() == classes  # all 10 shown, the box open
    assert page.inner_text("#classes-summary") == f"{len(classes)} classes"

    # The drop zone is a block of its own: its dashed border crosses neither the model line nor the classes.
    drop, viewport = box(page.locator("#drop")), {"x": 0, "y": 0, "width": width, "height": 10_000}
    for other in ("#model", "#classes-box", "h1"):
        assert not overlap(drop, box(page.locator(other))), other
    assert inside(drop, viewport)
    assert page_width_fits(page, width)
    assert page.get_by_label("Choose images…").get_attribute("type") == "file"
    assert page.get_attribute("#results", "aria-live") == "polite"
    page.close()


@pytest.mark.parametrize("device", WIDTHS)
def test_several_files_give_one_card_each_and_a_bad_file_shows_only_its_error(
    page_url, browser, pyfunc_model, upload_files, device, tmp_path
):
    width = WIDTHS[device]
    page = open_page(browser, page_url, width)
    statuses = classify_files(page, [str(f) for f in upload_files])
    page.screenshot(path=str(tmp_path / f"results-{device}.png"), full_page=True)

    assert CLASSIFYING in statuses, statuses  # the loading state was shown
    cards = page.locator("#results .card")
    assert cards.count() == len(upload_files)
    names = [cards.nth(i).locator(".file-name").inner_text() for i in range(cards.count())]
    assert names == [f.name for f in upload_files]  # in the order chosen

    expected = pyfunc_model.predict(
        pd.DataFrame({"image": [b64(f.read_bytes()) for f in upload_files[:3]]}), params={"top_k": 5}
    )
    for i in range(3):
        card = cards.nth(i)
        assert card.locator(".label").inner_text().startswith(expected["label"][i])
        assert card.locator(".bar-name").all_inner_texts() == [t["label"] for t in expected["top_k"][i]]
        assert card.locator(".error").count() == 0
        assert card.locator(".status").count() == 0
        thumb = card.locator("img.thumb")
        assert thumb.is_visible()
        assert thumb.evaluate("img => img.complete && img.naturalWidth > 0")

    # A bad file: its card says what is wrong with that file, naming it, and shows no prediction.
    for card, file, reason in [
        (cards.nth(3), upload_files[3], "not an image"),
        (cards.nth(4), upload_files[4], "limit"),
    ]:
        error = card.locator(".error")
        assert error.is_visible()
        assert error.inner_text().startswith(f"{file.name}: ")
        assert reason in error.inner_text()
        assert "Traceback" not in error.inner_text()
        assert card.locator(".label").count() == 0
        assert card.locator(".bar").count() == 0
    assert cards.nth(3).locator("img").count() == 0  # the text file: "no preview", not a broken icon
    assert cards.nth(3).locator(".thumb-box").inner_text() == "no preview"
    assert page.inner_text("#summary") == "3 of 5 images classified, 2 failed"

    # Boxes: cards inside the viewport's width and apart; in each card, rows apart and bars wide enough to read.
    viewport = {"x": 0, "y": 0, "width": width, "height": 100_000}
    card_boxes = [box(cards.nth(i)) for i in range(cards.count())]
    for i, a in enumerate(card_boxes):
        assert inside(a, viewport), (i, a)
        assert not any(overlap(a, b) for b in card_boxes[i + 1 :]), i
    for i in range(3):
        rows = cards.nth(i).locator(".bar-row")
        row_boxes = [box(rows.nth(j)) for j in range(rows.count())]
        assert all(inside(r, card_boxes[i]) for r in row_boxes)
        assert not any(overlap(a, b) for j, a in enumerate(row_boxes) for b in row_boxes[j + 1 :])
        tracks = [box(t) for t in cards.nth(i).locator(".bar-track").all()]
        assert min(t["width"] for t in tracks) >= 80, tracks  # not slivers, even at 360 px
        assert len({round(t["x"]) for t in tracks}) == 1  # every bar starts at the same x
        name = box(cards.nth(i).locator(".bar-name").first)
        assert not overlap(name, tracks[0])
    assert page_width_fits(page, width)
    if device == "desktop":  # wide screens use the width: several cards per row
        assert len({round(b["y"]) for b in card_boxes}) < len(card_boxes)
    page.close()


def test_keyboard_reaches_the_file_input_and_clears_the_results(page_url, browser, upload_files):
    page = open_page(browser, page_url, WIDTHS["desktop"])
    focused = []
    for _ in range(4):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        if focused[-1] == "file":
            break
    assert focused[-1] == "file", focused
    # The invisible input's focus shows on its visible label.
    outline = page.locator("label[for=file]").evaluate("l => getComputedStyle(l).outlineStyle")
    assert outline == "solid"

    classify_files(page, [str(upload_files[0])])
    assert page.locator("#toolbar").is_visible()
    page.focus("#clear")
    page.keyboard.press("Enter")
    assert page.locator("#results .card").count() == 0
    assert not page.locator("#toolbar").is_visible()
    assert page.evaluate("document.activeElement.id") == "file"
    page.close()


def test_files_dropped_on_the_page_are_classified(page_url, browser, upload_files):
    """A real drop event carrying two files (one an image, one not), as a file manager sends it."""
    page = open_page(browser, page_url, WIDTHS["phone"])
    files = [{"name": f.name, "bytes": list(f.read_bytes())} for f in (upload_files[0], upload_files[3])]
    page.evaluate(
        """files => {
          const transfer = new DataTransfer();
          for (const f of files) transfer.items.add(new File([new Uint8Array(f.bytes)], f.name, {type: "image/png"}));
          const zone = document.getElementById("drop");
          zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
          window.highlighted = zone.classList.contains("over");
          zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""",
        files,
    )
    page.wait_for_function("() => !document.querySelector('#results .card[aria-busy=true]')", timeout=60_000)
    assert page.evaluate("window.highlighted")  # the drop zone lit up while dragging over it
    assert not page.evaluate("document.getElementById('drop').classList.contains('over')")
    cards = page.locator("#results .card")
    assert cards.count() == 2
    assert cards.nth(0).locator(".bar-row").count() == 5
    assert cards.nth(1).locator(".error").inner_text().startswith("notes.png: not an image")
    page.close()
