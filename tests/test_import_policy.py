"""One import policy: imports at the top of each module, lazy only at command entry points and where
`--help` needs them. This checks the part that can break silently: `--help` (and every subcommand's)
loads none of the heavy libraries, so it answers at once however the modules under it grow."""

import subprocess
import sys

import pytest

from tests.helpers import ROOT

HEAVY = ("tensorflow", "keras", "mlflow", "optuna", "matplotlib", "sklearn", "sqlalchemy", "cv2", "albumentations")
# Runs the CLI in-process, then lists which heavy top-level packages it imported.
PROBE = """
import sys
from app.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = {name.split(".")[0] for name in sys.modules} & set(sys.argv[0].split(","))
print(",".join(sorted(heavy)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["tune", "--help"], ["serve", "--help"]])
def test_help_loads_no_heavy_library(args):
    done = subprocess.run(
        [sys.executable, "-c", PROBE.replace("sys.argv[0]", repr(",".join(HEAVY))), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
    assert done.stderr.strip().splitlines()[-1:] in ([], [""]), f"`{' '.join(args)}` imported {done.stderr.strip()}"


def test_validating_a_config_of_every_family_loads_no_keras():
    """Each family's config class lives beside its builder; the builder imports Keras, the class does not."""
    probe = (
        "import sys\nfrom pipelines.config import load_config\n"
        "for name in ('mlp', 'vgg', 'inception'):\n    load_config(None, [f'model.name={name}'])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
