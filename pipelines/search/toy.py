"""The capacity lesson (lecture on MLPs): decision regions of MLPs with 1, 2, 3, 10, 100 hidden units on 2-D toy sets.

Points, not images: a direct Keras MLP (one tanh hidden layer, full-batch Adam), not the image
training workflow. The grid is still an Optuna GridSampler study with every cell a nested MLflow
run that logs its decision-region PNG; the parent run logs all of them side by side.
"""

import logging
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TOY_SETS = ("moons", "circles", "spirals")
UNITS = (1, 2, 3, 10, 100)
POINTS = 400
VAL_FRACTION = 0.3


def toy_points(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`POINTS` 2-D points with binary labels: scikit-learn's moons and circles, or two interleaved spirals."""
    from sklearn.datasets import make_circles, make_moons

    if name == "moons":
        return make_moons(POINTS, noise=0.2, random_state=seed)
    if name == "circles":
        return make_circles(POINTS, noise=0.1, factor=0.5, random_state=seed)
    if name == "spirals":  # scikit-learn has none: 1.5 turns each, the second the first rotated by 180 degrees
        rng = np.random.default_rng(seed)
        t = np.sqrt(rng.uniform(0, 1, POINTS // 2)) * 3 * np.pi
        arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
        x = np.concatenate([arm, -arm]) + rng.normal(0, 0.03, (POINTS // 2 * 2, 2))
        return x, np.repeat([0, 1], POINTS // 2)
    raise ValueError(f"unknown toy set '{name}'; choose one of {', '.join(TOY_SETS)}")


def train_toy_mlp(x: np.ndarray, y: np.ndarray, units: int, epochs: int, seed: int = 0):
    """One hidden tanh layer of `units`, sigmoid output; returns (model, train accuracy, val accuracy)."""
    import keras

    keras.utils.set_random_seed(seed)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * (1 - VAL_FRACTION))
    train, val = order[:cut], order[cut:]
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(units, activation="tanh"), keras.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(keras.optimizers.Adam(0.03), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x[train], y[train], batch_size=len(train), epochs=epochs, verbose=0)
    _, train_acc = model.evaluate(x[train], y[train], verbose=0)
    _, val_acc = model.evaluate(x[val], y[val], verbose=0)
    return model, float(train_acc), float(val_acc)


def draw_regions(ax, model, x: np.ndarray, y: np.ndarray, title: str) -> None:
    """The model's class regions over the points' bounding box, the points on top."""
    lo, hi = x.min(axis=0) - 0.3, x.max(axis=0) + 0.3
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype("float32")
    p = np.asarray(model(grid, training=False)).reshape(gx.shape)  # one call: no predict-function retracing
    ax.contourf(gx, gy, p, levels=[0, 0.5, 1], colors=["#a9c8e8", "#f4b6a8"], alpha=0.8)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=6, edgecolors="none")  # class 0 blue, 1 red, like the regions
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def run_capacity_sweep(mlflow, datasets=TOY_SETS, units=UNITS, epochs: int = 300, seed: int = 0) -> dict:
    """Grid over (toy set, hidden units): nested runs with their PNGs, the grid of all on the parent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    fig, axes = plt.subplots(len(datasets), len(units), figsize=(2.2 * len(units), 2.2 * len(datasets)), squeeze=False)
    results = {}

    def objective(trial) -> float:
        name = trial.suggest_categorical("dataset", list(datasets))
        width = trial.suggest_categorical("hidden_units", list(units))
        x, y = toy_points(name, seed)
        model, train_acc, val_acc = train_toy_mlp(x, y, width, epochs, seed)
        title = f"{name}, {width} unit{'s' if width > 1 else ''}: val {val_acc:.2f}"
        with mlflow.start_run(run_name=f"capacity-{name}-{width}", nested=True):
            mlflow.log_params({"dataset": name, "hidden_units": width, "epochs": epochs, "points": POINTS})
            mlflow.log_metrics({"train_accuracy": train_acc, "val_accuracy": val_acc})
            single, ax = plt.subplots(figsize=(4, 4))
            draw_regions(ax, model, x, y, title)
            mlflow.log_figure(single, "decision_regions.png")
            plt.close(single)
        draw_regions(axes[datasets.index(name)][units.index(width)], model, x, y, title)
        results[(name, width)] = (train_acc, val_acc)
        return val_acc

    sampler = optuna.samplers.GridSampler({"dataset": list(datasets), "hidden_units": list(units)}, seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    with mlflow.start_run(run_name="capacity-sweep"):
        mlflow.set_tags({"tune_role": "parent", "study": "capacity"})
        study.optimize(objective, n_trials=len(datasets) * len(units))
        fig.tight_layout()
        with tempfile.TemporaryDirectory() as tmp:
            fig.savefig(Path(tmp) / "decision_boundaries.png", dpi=80)
            mlflow.log_artifact(str(Path(tmp) / "decision_boundaries.png"), "plots")
        plt.close(fig)
    return results
