"""The PNGs a person looks at: real files, readable, of a size that fits a screen (issue 15)."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipelines.evaluation import plots

VGG_LAYERS = [f"block{b}_conv{c}{bn}" for b in range(1, 6) for c in range(1, 4) for bn in ("", "_bn")][:26]


def _size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()  # a truncated or corrupt file fails here
        return image.size


def test_augment_preview_upscales_small_images_and_labels_the_columns():
    from data.sources import load_splits
    from pipelines.config import load_config
    from pipelines.inputs.preview import MIN_TILE, preview_grid

    cfg = load_config(None, ["augment.preset=none"])
    splits = load_splits(cfg.data, cfg.seed)
    grid = preview_grid(splits.train, splits.class_names, None, cfg.seed, originals=2, versions=3)
    width, height = grid.size
    assert width >= 4 * MIN_TILE  # 8x8 digits drawn at 128 px or more (was 64 px tiles, 480x332 in all)
    assert height >= 2 * MIN_TILE
    header = np.asarray(grid.convert("L"))[:20]
    assert (header < 128).any()  # the "original | augmented 1..n" labels are drawn


def test_training_curves_count_epochs_from_one(tmp_path):
    history = {"loss": {0: 1.0, 1: 0.5}, "val_loss": {0: 1.1, 1: 0.7}, "val_accuracy": {0: 0.6, 1: 0.8}}
    path = plots.plot_training_curves(history, tmp_path / "curves.png", "training curves: mlp [64] adam lr=0.001")
    assert _size(path) == (1540, 418)


def test_gradient_norms_are_grouped_by_block(tmp_path):
    norms = {layer: 0.5 for layer in [*VGG_LAYERS, "predictions"]}
    grouped = plots.block_norms(norms)
    assert list(grouped) == ["block1", "block2", "block3", "block4", "block5", "predictions"]
    assert grouped["block1"] == pytest.approx((np.sqrt(6 * 0.25), 0.5, 0.5))  # L2 over its 6 layers
    records = [(step, {k: v * step for k, v in norms.items()}) for step in range(1, 31)]
    width, height = _size(plots.plot_gradient_norms(records, 1e-5, 1e3, tmp_path / "grad.png"))
    assert width < 1000  # one readable figure (a VGG's 27 layers drew 2112 px before)
    assert height < 600


def test_gradient_demo_puts_both_runs_on_one_axis(tmp_path):
    layers = [f"mlp/dense{i}" for i in range(1, 13)] + ["mlp/predictions"]
    runs = {"sigmoid": {layer: 10.0 ** (i - 12) for i, layer in enumerate(layers)}, "relu": dict.fromkeys(layers, 1.0)}
    width, _ = _size(plots.plot_gradient_demo(runs, 1e-4, tmp_path / "demo.png"))
    assert 700 <= width <= 1400


def test_confusion_matrix_has_counts_and_recall_views(tmp_path):
    confusion = np.diag([30] * 10) + 1
    width, height = _size(plots.plot_confusion_matrix(confusion, [str(d) for d in range(10)], tmp_path / "cm.png"))
    assert width > 1.8 * height  # two square matrices side by side


def test_comparison_plot_fits_run_names(tmp_path):
    from pipelines.tracking.compare_plot import plot_comparison

    table = pd.DataFrame(
        {
            "run_id": ["a" * 32, "b" * 32],
            "run_name": ["vgg 16 adamw lr=0.003 epochs=3", "mlp [512, 256] adam lr=0.002"],
            "model": ["vgg", "mlp"],
            "best_val_accuracy": [0.92, 0.90],
            "test_accuracy": [0.93, np.nan],
            "train_seconds": [78.0, 17.0],
        }
    )
    assert _size(plot_comparison(table, tmp_path / "comparison.png")) == (1400, 430)
