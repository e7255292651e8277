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

OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULE_NAMES = ("constant", "step", "exponential", "cosine")
NOT_DECAYED = ["bias", "gamma", "beta"]


def build_optimizer(cfg, steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    lr = build_schedule(cfg, steps_per_epoch, epochs)
    kwargs = {k: getattr(cfg, k) for k in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(cfg, k)}
    if cfg.weight_decay is not None:
        kwargs["weight_decay"] = cfg.weight_decay
    if cfg.name == "sgd":
        optimizer = keras.optimizers.SGD(lr, **kwargs)
    elif cfg.name == "momentum":
        optimizer = keras.optimizers.SGD(lr, momentum=cfg.momentum, **kwargs)
    elif cfg.name == "nesterov":
        optimizer = keras.optimizers.SGD(lr, momentum=cfg.momentum, nesterov=True, **kwargs)
    elif cfg.name == "adagrad":
        optimizer = keras.optimizers.Adagrad(lr, **kwargs)
    elif cfg.name == "rmsprop":
        optimizer = keras.optimizers.RMSprop(lr, **kwargs)
    elif cfg.name == "adam":
        optimizer = keras.optimizers.Adam(lr, **kwargs)
    elif cfg.name == "adamw":
        optimizer = keras.optimizers.AdamW(lr, **kwargs)  # Keras' default weight_decay 0.004 unless set
    else:
        raise ValueError(f"optimizer '{cfg.name}' is unknown; choose one of {', '.join(OPTIMIZER_NAMES)}")
    if optimizer.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=NOT_DECAYED)
    return optimizer


def build_schedule(cfg, steps_per_epoch: int, epochs: int):
    """A float for `constant`, else a Keras schedule measured in optimizer steps."""
    total = max(1, steps_per_epoch * epochs)
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    decay_steps = max(1, int(round(cfg.decay_epochs * steps_per_epoch)))
    if cfg.schedule == "constant":
        return float(cfg.learning_rate)
    if cfg.schedule == "step":
        # lr * decay_rate ** floor(step / decay_steps): drops every `decay_epochs` epochs.
        return keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, decay_steps, cfg.decay_rate, staircase=True
        )
    if cfg.schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(cfg.learning_rate, decay_steps, cfg.decay_rate)
    if cfg.schedule == "cosine":
        # Keras' CosineDecay warms up linearly from initial_learning_rate to warmup_target,
        # then follows a half cosine down to 0 at the last step of training.
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else cfg.learning_rate,
            decay_steps=max(1, total - warmup),
            warmup_target=cfg.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    raise ValueError(f"schedule '{cfg.schedule}' is unknown; choose one of {', '.join(SCHEDULE_NAMES)}")


def current_learning_rate(optimizer) -> float:
    # Keras 3 evaluates the schedule at the optimizer's current iteration here.
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
