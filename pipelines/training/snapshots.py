"""Snapshot ensembles (`train.snapshot_cycles`): keep each learning-rate cycle's end, serve what wins on validation.

The optimizer's schedule restarts every epochs / cycles epochs (models.optimizers.Cyclic).
`SnapshotKeeper` keeps the served network's weights when a cycle ends: the weights validation
just scored, so the EMA average when `train.optimizer.ema` is on. The last cycle's end is the
trained model itself. With `train.snapshot_restart: fresh` each cycle starts again from the run's
starting weights instead (the members then differ by data order and augmentation, like
separately trained models). `choose_served_network` then scores each kept model and their average on
the validation split and returns the winner; the average wins ties (it is the steadier guess).

A small set whose epochs run out before the budget does (app/folder_defaults.py) spends the
rest on more cycles instead of stopping early.
"""

import logging
import os
import shutil
from pathlib import Path

import keras
import numpy as np

log = logging.getLogger(__name__)


class SnapshotKeeper(keras.callbacks.Callback):
    """Keep `network`'s weights at the end of every cycle but the last, in memory and in `folder`.

    `restart` "fresh": the next cycle starts again from the weights the run started with.

    Files (one .npz a cycle) let a killed run resume with the cycles it had finished. A cycle
    ends when the schedule's position passes it: epochs done, or the time budget's share when a
    FollowsBudget schedule runs ahead of the epochs.
    """

    def __init__(self, network, cycles: int, epochs: int, folder: Path, resume_epoch: int = 0, restart: str = "warm"):
        super().__init__()
        self.network, self.cycles, self.epochs = network, cycles, epochs
        self.cycle_epochs = max(1, epochs // cycles)
        self.folder, self.resume_epoch = Path(folder), resume_epoch
        self.restart = restart  # train.snapshot_restart
        self.members: list[list[np.ndarray]] = []
        self.start: list[np.ndarray] | None = None  # the run's starting weights, for fresh restarts
        self.restart_pending = False

    def on_train_begin(self, logs=None):
        if not self.resume_epoch:
            shutil.rmtree(self.folder, ignore_errors=True)  # a restart's old cycles are not this run's
            if self.restart == "fresh":
                self.start = self.network.get_weights()
                self._save(self.start, "start")
            return
        ended_at = []
        for path in sorted(self.folder.glob("cycle-*.npz"), key=lambda p: int(p.stem.split("-")[1])):
            if int(path.stem.split("-")[3]) <= self.resume_epoch:
                self.members.append(_load(path))
                ended_at.append(int(path.stem.split("-")[3]))
        if self.restart == "fresh":
            self.start = _load(self.folder / "start.npz")
            self.restart_pending = self.resume_epoch in ended_at  # the backup came before the restart

    def on_epoch_begin(self, epoch, logs=None):
        # Here, not at the epoch's end: the EMA callbacks put the raw weights back after the keeper ran.
        if self.restart_pending:
            self.restart_pending = False
            self._start_again()

    def on_epoch_end(self, epoch, logs=None):
        done = min(self.cycles - 1, int(self._position(epoch + 1) / self.cycle_epochs + 1e-6))
        if done > len(self.members):
            self.members.append(self.network.get_weights())
            self._save(self.members[-1], f"cycle-{len(self.members)}-epoch-{epoch + 1}")
            self.restart_pending = self.restart == "fresh"
            log.info("snapshot ensemble: cycle %d of %d ended at epoch %d, its weights kept",
                     len(self.members), self.cycles, epoch + 1)  # fmt: skip

    def _start_again(self) -> None:
        """The run's starting weights back, the optimizer's slots (momentum, moments, EMA) with them."""
        self.network.set_weights(self.start)
        optimizer = self.model.optimizer
        keep = (optimizer.iterations, optimizer._learning_rate)  # the step count drives the cyclic schedule
        for variable in optimizer.variables:
            if not any(variable is kept for kept in keep):
                variable.assign(keras.ops.zeros_like(variable))
        if getattr(optimizer, "use_ema", False):
            for variable, average in zip(
                optimizer._trainable_variables, optimizer._model_variables_moving_average, strict=True
            ):
                average.assign(variable)

    def _position(self, epochs_done: int) -> float:
        """How far the schedule is, in epochs: a budget-following schedule may be ahead of the count."""
        progress = getattr(getattr(self.model.optimizer, "_learning_rate", None), "time_progress", None)
        by_time = float(keras.ops.convert_to_numpy(progress)) * self.epochs if progress is not None else 0.0
        return max(float(epochs_done), by_time)

    def _save(self, weights: list[np.ndarray], name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".{name}.tmp.npz"
        np.savez(temporary, **{f"w{i}": w for i, w in enumerate(weights)})
        os.replace(temporary, self.folder / f"{name}.npz")  # whole or absent


def _load(path: Path) -> list[np.ndarray]:
    with np.load(path) as saved:
        return [saved[f"w{i}"] for i in range(len(saved.files))]


def validation_score(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy: of the top class, or per label at 0.5 for multi-hot labels (multilabel)."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return float(np.mean((probabilities > 0.5) == (labels > 0.5)))
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def choose_served_network(network, members: list, val_split, with_pixels, batch: int = 128) -> tuple[object, dict]:
    """(the network to serve, figures to log): the average of the members or the best single one.

    `members`: the kept cycles' weights, the trained network's own last; `with_pixels(model)`
    wraps a network to take raw pixels (the run's normalization), as the report scores it.
    """
    from models.ensemble import average_of

    scoring = with_pixels(average_of(network, members, with_members=True))  # every member and the mean, one pass
    images = val_split.images
    parts = [scoring(images[i : i + batch].astype("float32"), training=False) for i in range(0, len(images), batch)]
    scores = [
        validation_score(np.concatenate([np.asarray(out[k]) for out in parts]), val_split.labels)
        for k in range(len(members) + 1)
    ]
    singles, averaged = scores[:-1], scores[-1]
    figures = {f"val_accuracy_cycle_{i}": value for i, value in enumerate(singles, start=1)}
    figures["val_accuracy_ensemble"] = averaged
    best = int(np.argmax(singles))
    if averaged >= singles[best]:
        chosen, served = "their average", average_of(network, members)
    else:
        network.set_weights(members[best])
        chosen, served = f"cycle {best + 1} alone", network
    log.info(
        "snapshot ensemble: validation accuracy of the cycles %s, of their average %.4f; serving %s",
        ", ".join(f"{value:.4f}" for value in singles),
        averaged,
        chosen,
        extra={"stage": True},
    )
    return served, {**figures, "snapshot_members_served": len(members) if served is not network else 1}
