"""Optimizers and learning-rate schedules from the `train.optimizer` slice.

Weight decay here is decoupled (Loshchilov & Hutter 2019): Keras 3 optimizers apply
w <- w - lr * weight_decay * w after the gradient step, outside the loss. That is AdamW's decay,
and "SGD with weight decay" for the SGD family. Coupled L2 (a penalty in the loss, scaled by
Adam's adaptive step like any gradient) is `model.l2`. Biases and batch-norm scales/offsets
are not decayed.

`schedule: constant` gives the optimizer a plain float learning rate: that is the only form
ReduceLROnPlateau can change. The other schedules are Keras schedule objects, evaluated per step.
"""

import keras

NOT_DECAYED = ["bias", "gamma", "beta"]


def build_optimizer(cfg, steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    lr = build_schedule(cfg, steps_per_epoch, epochs)
    kwargs = {k: getattr(cfg, k) for k in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(cfg, k)}
    if cfg.weight_decay is not None:
        kwargs["weight_decay"] = cfg.weight_decay
    # cfg.name is one of models.config.OPTIMIZERS (validated): every name has its line here.
    optimizer = {
        "sgd": lambda: keras.optimizers.SGD(lr, **kwargs),
        "momentum": lambda: keras.optimizers.SGD(lr, momentum=cfg.momentum, **kwargs),
        "nesterov": lambda: keras.optimizers.SGD(lr, momentum=cfg.momentum, nesterov=True, **kwargs),
        "adagrad": lambda: keras.optimizers.Adagrad(lr, **kwargs),
        "rmsprop": lambda: keras.optimizers.RMSprop(lr, **kwargs),
        "adam": lambda: keras.optimizers.Adam(lr, **kwargs),
        "adamw": lambda: keras.optimizers.AdamW(lr, **kwargs),  # Keras' default weight_decay 0.004 unless set
    }[cfg.name]()
    if optimizer.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=NOT_DECAYED)
    return optimizer


def build_schedule(cfg, steps_per_epoch: int, epochs: int):
    """A float for `constant`, else a Keras schedule measured in optimizer steps."""
    total = max(1, steps_per_epoch * epochs)
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    decay_steps = max(1, round(cfg.decay_epochs * steps_per_epoch))
    # cfg.schedule is one of models.config.SCHEDULES (validated): every name has its line here.
    return {
        "constant": lambda: float(cfg.learning_rate),
        # lr * decay_rate ** floor(step / decay_steps): drops every `decay_epochs` epochs.
        "step": lambda: keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, decay_steps, cfg.decay_rate, staircase=True
        ),
        "exponential": lambda: keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, decay_steps, cfg.decay_rate
        ),
        # Warms up linearly from 0 to the learning rate, then a half cosine down to 0 at the last step.
        "cosine": lambda: keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else cfg.learning_rate,
            decay_steps=max(1, total - warmup),
            warmup_target=cfg.learning_rate if warmup else None,
            warmup_steps=warmup,
        ),
    }[cfg.schedule]()


def current_learning_rate(optimizer) -> float:
    # Keras 3 evaluates the schedule at the optimizer's current iteration here.
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
