"""Regenerate the README's screenshots of the web page: `make docs-web-screenshots` (`python -m tests.docs_screenshots`).

Trains a small digits MLP into a temp MLflow store (nothing of yours is touched), starts the
real `python -m app web` on a free port, chooses six handwritten digits and one text file in
headless Chromium (as a person would), and saves the page at 1400 and 360 px wide:
docs/web-page.png and docs/web-page-360.png. Takes about a minute on 2 cores.
"""

import sys
import tempfile
from pathlib import Path

from PIL import Image

from tests.helpers import chromium, classify_files, open_page, screenshot_script, train, web_page

MODEL_URI = "models:/digits-classifier@champion"
SHOTS = {"web-page.png": 1400, "web-page-360.png": 360}


def sample_files(folder: Path) -> list[Path]:
    """Six digits from the end of sklearn's set, at their native 8x8, and one file that is no image."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    files = []
    for index in (-1, -2, -3, -5, -7, -9):
        pixels = (digits.images[index] * 255.0 / 16.0 + 0.5).clip(0, 255).astype("uint8")
        files.append(folder / f"digit-{digits.target[index]}-{abs(index)}.png")
        Image.fromarray(pixels).save(files[-1])
    files.append(folder / "notes.png")
    files[-1].write_text("a text file with an image suffix")
    return files


def main() -> int:
    args = screenshot_script(
        __doc__,
        lambda parser: parser.add_argument(
            "--epochs", type=int, default=15, help="training epochs of the digits MLP shown"
        ),
    )
    if args is None:
        return 1
    with tempfile.TemporaryDirectory(prefix="web-shots-") as tmp:
        work = Path(tmp)
        store = f"sqlite:///{work / 'mlflow.db'}"
        trained = train(store, work / "outputs", f"train.epochs={args.epochs}")
        if trained.returncode != 0:
            print(f"error: training failed:\n{trained.stderr[-2000:]}", file=sys.stderr)
            return 1
        files = [str(f) for f in sample_files(work)]
        with web_page(MODEL_URI, store, work, max_upload_mb=10.0) as url, chromium() as browser:
            for name, width in SHOTS.items():
                page = open_page(browser, url, width, height=900 if width > 600 else 740)
                classify_files(page, files)
                page.evaluate("document.activeElement.blur()")
                page.screenshot(path=str(args.out / name), full_page=True)
                page.close()
                print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
