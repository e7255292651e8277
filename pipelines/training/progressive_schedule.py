"""The side of each epoch's training images under train.progressive_resize, without TensorFlow.

Kept apart from the callback (progressive.py) so that `make train-vgg DATA=<folder>` can size a
run's epochs (app/folder_defaults.py) without importing TensorFlow.
"""


def side_at(epoch: int, epochs: int, full: int, cfg) -> int:
    """The image side of 0-based `epoch`: linear from start_scale x full to full, rounded to cfg.multiple."""
    ramp = max(1, round(cfg.full_size_at * epochs))
    scale = cfg.start_scale + (1.0 - cfg.start_scale) * min(1.0, epoch / ramp)
    side = round(full * scale / cfg.multiple) * cfg.multiple
    return int(min(full, max(cfg.multiple, side)))


def mean_cost(epochs: int, full: int, cfg) -> float:
    """An epoch's average cost as a fraction of a full-size one (convolutions scale with the area)."""
    return sum((side_at(epoch, epochs, full, cfg) / full) ** 2 for epoch in range(epochs)) / max(1, epochs)
