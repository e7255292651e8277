"""A run's name is printed (train's summary, compare's table): a folder's escape sequence shows as text."""

from pipelines.config import load_config
from pipelines.tracking.run_logging import run_name


def test_control_characters_in_the_folder_and_overrides_are_escaped(tmp_path):
    folder = tmp_path / "\x1b[31mpix"
    (folder / "a").mkdir(parents=True)
    overrides = [
        "data.source=folder",
        f"data.path={folder}",
        "tracking.experiment=pix",
        "tracking.registered_model=pix",
        "train.monitor=val_loss",
        "data.resize=pad",
    ]
    name = run_name(load_config(None, overrides), [*overrides, "model.dropout=0.1\x07"])
    assert name.startswith("\\x1b[31mpix mlp")
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name), repr(name)
