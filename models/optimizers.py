"""Optimizers and learning-rate schedules from the `train.optimizer` slice."""

import keras


def build_optimizer(cfg, steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    lr = build_schedule(cfg, steps_per_epoch, epochs)
    clip = {k: getattr(cfg, k) for k in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(cfg, k)}
    wd = cfg.weight_decay or None
    if cfg.name == "sgd":
        return keras.optimizers.SGD(lr, weight_decay=wd, **clip)
    if cfg.name == "momentum":
        return keras.optimizers.SGD(lr, momentum=cfg.momentum, weight_decay=wd, **clip)
    if cfg.name == "nesterov":
        return keras.optimizers.SGD(lr, momentum=cfg.momentum, nesterov=True, weight_decay=wd, **clip)
    if cfg.name == "adagrad":
        return keras.optimizers.Adagrad(lr, weight_decay=wd, **clip)
    if cfg.name == "rmsprop":
        return keras.optimizers.RMSprop(lr, weight_decay=wd, **clip)
    if cfg.name == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd, **clip)
    if cfg.name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay or 0.004, **clip)
    raise ValueError(
        f"optimizer '{cfg.name}' is unknown; choose sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw"
    )


def build_schedule(cfg, steps_per_epoch: int, epochs: int):
    """A float for `constant`, else a Keras schedule measured in optimizer steps."""
    total = max(1, steps_per_epoch * epochs)
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    decay_steps = max(1, int(round(cfg.decay_epochs * steps_per_epoch)))
    if cfg.schedule == "constant":
        return cfg.learning_rate
    if cfg.schedule == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, decay_steps, cfg.decay_rate, staircase=True
        )
    if cfg.schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(cfg.learning_rate, decay_steps, cfg.decay_rate)
    if cfg.schedule == "cosine":
        # Keras' CosineDecay warms up linearly from initial_learning_rate to warmup_target.
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else cfg.learning_rate,
            decay_steps=max(1, total - warmup),
            warmup_target=cfg.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    raise ValueError(f"schedule '{cfg.schedule}' is unknown; choose constant, step, exponential, cosine")


def current_learning_rate(optimizer) -> float:
    # Keras 3 evaluates the schedule at the optimizer's current iteration here.
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
