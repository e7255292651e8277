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
    assert _size(path) == (1540, 506)  # the legends below the panels take the extra height
    fig = plots.training_curves_figure(history)
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == [1, 2]
    one = plots.training_curves_figure({"loss": {0: 1.0}, "val_accuracy": {0: 0.5}}, stop=(1, "time budget"))
    assert [tick.get_loc() for tick in _drawn_ticks_of(one.axes[0].xaxis)] == [1]  # not 0.95, 0.975, ... 1.05


def _texts(fig):
    """Every non-empty title, suptitle, tick label and legend entry of `fig`, with its extent in pixels."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [fig._suptitle] if fig._suptitle else []
    for ax in fig.axes:
        ticks = [*_drawn_ticks(ax.xaxis), *_drawn_ticks(ax.yaxis)] if ax.axison else []
        texts += [ax.title, *ticks, *ax.texts]
        if ax.get_legend():
            texts += ax.get_legend().get_texts()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_text() and t.get_visible()]


def _drawn_ticks_of(axis):
    """The ticks matplotlib draws: those inside the axis' view (the locator proposes more)."""
    axis.figure.canvas.draw()
    low, high = sorted(axis.get_view_interval())
    return [tick for tick in axis.get_major_ticks() if low - 1e-9 <= tick.get_loc() <= high + 1e-9]


def _drawn_ticks(axis):
    return [tick.label1 for tick in _drawn_ticks_of(axis)]


def _assert_inside(fig, texts=None):
    box = fig.bbox
    for text, extent in texts or _texts(fig):
        inside = (
            box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1 and box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1
        )
        assert inside, f"{text!r} is cut: {extent} outside the figure {box}"


CLASS_SETS = {
    "two": ["cat", "dog"],
    "two long": ["golden_retriever_puppies_outdoor", "siamese_cats_on_the_sofa_indoors"],
    "flowers": ["daisy", "dandelion", "rose", "sunflower", "tulip"],
    "digits": [str(d) for d in range(10)],
    "ten long": [f"class_with_a_rather_long_name_{i}" for i in range(10)],
}


@pytest.mark.parametrize("names", CLASS_SETS.values(), ids=CLASS_SETS.keys())
def test_confusion_matrix_titles_and_class_names_fit_in_the_figure(names):
    n = len(names)
    fig = plots.confusion_matrix_figure(np.diag([20] * n) + 2, names)
    titles = [ax.title.get_text() for ax in fig.axes if ax.title.get_text()]
    assert "% of each true class\n(diagonal = recall)" in titles  # the whole title: it was cut to "recal"
    _assert_inside(fig)
    labels = [label.get_text() for label in fig.axes[0].get_xticklabels()]
    assert all(len(label) <= 24 for label in labels)  # long names shortened in the middle, ends kept
    assert labels[0].endswith(names[0][-8:])


def _run_history(epochs: int) -> dict:
    return {
        "loss": {e: 2 / (e + 1) for e in range(epochs)},
        "val_loss": {e: 2.2 / (e + 1) + 0.1 for e in range(epochs)},
        "accuracy": {e: 1 - 0.8 / (e + 1) for e in range(epochs)},
        "val_accuracy": {e: min(0.9, 0.95 - 0.7 / (e + 1)) for e in range(epochs)},
        "learning_rate": {e: 0.05 * (1 - e / 40) for e in range(epochs)},
    }


LONG_RUN_NAME = (
    "training curves: flowers vgg11 nesterov lr=0.05 budget=10m 96px augment.preset=heavy model.width=0.25 "
    "data.image_size=[96,96] train.epochs=40 model.dropout=0.3 #1ebaf"
)


def test_training_curves_keep_labels_off_the_curves_and_the_title_whole():
    fig = plots.training_curves_figure(_run_history(23), LONG_RUN_NAME)
    _assert_inside(fig)
    assert " ".join(fig._suptitle.get_text().split()) == LONG_RUN_NAME  # wrapped, not cut
    renderer = fig.canvas.get_renderer()
    legend_texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "best val_accuracy 0.9000 (epoch 15)" in legend_texts
    for ax in fig.axes:
        assert len(ax.texts) == 0  # no annotation drawn on the data
        data_area = ax.get_window_extent(renderer)
        legend = ax.get_legend().get_window_extent(renderer)
        assert not legend.overlaps(data_area), f"the legend of '{ax.get_title()}' sits on its curves"


@pytest.mark.parametrize("reason", ["time budget", "early stop"])
def test_an_early_end_is_marked_on_every_panel(reason):
    fig = plots.training_curves_figure(_run_history(23), "training curves: digits mlp", stop=(23, reason))
    for ax in fig.axes:
        marks = [line for line in ax.get_lines() if line.get_label() == f"stopped: {reason} (epoch 23)"]
        assert len(marks) == 1
        assert list(marks[0].get_xdata()) == [23, 23]  # a vertical line at the last epoch
        assert f"stopped: {reason} (epoch 23)" in [t.get_text() for t in ax.get_legend().get_texts()]
    unmarked = plots.training_curves_figure(_run_history(23))
    assert not [line for ax in unmarked.axes for line in ax.get_lines() if "stopped" in line.get_label()]


def test_misclassified_images_are_captioned_with_their_file_names():
    images = np.random.default_rng(0).integers(0, 255, size=(7, 16, 16, 3), dtype=np.uint8)
    names = [f"tulip/{i}_8979087213_28f572174c_n.jpg" for i in range(6)] + ["tulip/IMG_0001.jpeg"]
    fig = plots.misclassified_figure(
        images, ["tulip"] * 7, ["a_very_long_class_name_for_roses"] * 7, [0.93] * 7, names, total=40
    )
    captions = [ax.title.get_text() for ax in fig.axes if ax.title.get_text()]
    assert len(captions) == 7
    assert captions[0] == "0_8979087213_28f572174c_n.jpg\ntrue tulip\npred a_very_l\u2026for_roses (0.93)"
    assert captions[-1].startswith("IMG_0001.jpeg\n")
    assert fig._suptitle.get_text() == "misclassified: the 7 most confident of 40"
    _assert_inside(fig)
    digits = plots.misclassified_figure(
        images[:2, ..., :1], ["1", "2"], ["7", "3"], [0.5, 0.6], ["digits:12", "digits:7"]
    )
    assert [ax.title.get_text() for ax in digits.axes[:2]] == [
        "digits:12\ntrue 1\npred 7 (0.50)",
        "digits:7\ntrue 2\npred 3 (0.60)",
    ]


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
