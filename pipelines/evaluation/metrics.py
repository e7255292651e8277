"""What a metric's name means: which direction is better. One rule for callbacks, champions and tables."""

# Metrics where smaller wins: losses and cross-entropies of any split, and the time a run took.
LOWER_IS_BETTER_MARKERS = ("loss", "cross_entropy", "seconds")


def higher_is_better(metric: str) -> bool:
    """`val_accuracy`, `best_val_top_5_accuracy`: higher; `val_loss`, `train_seconds`: lower."""
    return not any(marker in metric for marker in LOWER_IS_BETTER_MARKERS)


def keras_mode(metric: str) -> str:
    """The `mode` Keras callbacks (ModelCheckpoint, EarlyStopping, ...) want for this metric."""
    return "max" if higher_is_better(metric) else "min"
