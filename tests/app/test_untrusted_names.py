"""File names are untrusted text: in the predict CSV a formula-like name stays text, and an ANSI
escape in a name reaches neither the CSV nor the terminal raw."""

import csv
import io
import subprocess
import sys

import numpy as np
import pytest

from tests.app.conftest import MODEL_URI
from tests.app.test_serving import digit_pixels, png_bytes
from tests.helpers import ROOT, env_for

ESC = "\x1b[31m"


@pytest.mark.slow
def test_predict_csv_keeps_formula_and_escape_names_inert(trained_model, tmp_path):
    folder = tmp_path / "=1+2"  # given relative, as a person types it: every row starts with the folder
    folder.mkdir()
    pixels = digit_pixels(2)
    (folder / "@SUM(1+1).png").write_bytes(png_bytes(pixels[0]))
    (folder / f"{ESC}red.png").write_bytes(png_bytes(pixels[1]))
    env = {**env_for(trained_model[0]), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "app", "predict", "--model", MODEL_URI, "=1+2", "+2-3.png"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b" not in done.stdout
    assert "\x1b" not in done.stderr
    rows = {r["file"]: r for r in csv.DictReader(io.StringIO(done.stdout))}
    assert set(rows) == {"'=1+2/@SUM(1+1).png", "'=1+2/\\x1b[31mred.png", "'+2-3.png"}
    assert rows["'+2-3.png"]["error"] == "no such file"
    assert all(rows[name]["label"] for name in rows if "=1+2" in name)


def test_a_skipped_file_with_an_escape_in_its_name_is_shown_escaped(tmp_path):
    """The loader's warning names the skipped file: the terminal gets '\\x1b[31m', not the escape itself."""
    for name, color in (("a", 0), ("b", 255)):
        (tmp_path / name).mkdir()
        for i in range(10):
            (tmp_path / name / f"{i}.png").write_bytes(png_bytes(np.full((8, 8), color, np.uint8)))
    (tmp_path / "b" / f"{ESC}x.jpg").write_bytes(b"junk")
    command = [sys.executable, "-m", "app", "train", "data.source=folder", f"data.path={tmp_path}"]
    command += [f"output_dir={tmp_path / 'out'}", "train.epochs=1"]
    env = {**env_for(f"sqlite:///{tmp_path / 'mlflow.db'}")}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        warning = next((line for line in process.stderr if line.startswith("warning: skipped")), "")
    finally:
        process.kill()
        process.wait()
    assert "b/\\x1b[31mx.jpg" in warning
    assert "\x1b" not in warning
