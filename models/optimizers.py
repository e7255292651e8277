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


def build_optimizer(
    cfg, steps_per_epoch: int, epochs: int, follow_budget: bool = False, cycles: int = 1
) -> keras.optimizers.Optimizer:
    """`follow_budget`: a run with a time budget; its schedule ends when the budget does (FollowsBudget).

    `cycles` > 1: the schedule is planned for epochs / cycles and runs that many times (Cyclic).
    """
    lr = build_schedule(cfg, steps_per_epoch, max(1, epochs // cycles))
    if cycles > 1 and not isinstance(lr, float):
        lr = Cyclic(lr, steps_per_epoch * max(1, epochs // cycles), cycles)
    if follow_budget and not isinstance(lr, float):
        lr = FollowsBudget(lr, steps_per_epoch * epochs)
    kwargs = {k: getattr(cfg, k) for k in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(cfg, k)}
    if cfg.weight_decay is not None:
        kwargs["weight_decay"] = cfg.weight_decay
    if cfg.ema:
        every = cfg.ema_overwrite_every_n_steps
        kwargs.update(use_ema=True, ema_momentum=cfg.ema_momentum, ema_overwrite_frequency=every)
    # SGD family: ScaledBiasSGD when batch-norm offsets get their own learning-rate scale.
    sgd, sgd_kwargs = (
        (ScaledBiasSGD, {"bias_lr_scale": cfg.bias_lr_scale})
        if cfg.bias_lr_scale != 1.0
        else (keras.optimizers.SGD, {})
    )
    # cfg.name is one of models.config.OPTIMIZERS (validated): every name has its line here.
    optimizer = {
        "sgd": lambda: sgd(lr, **sgd_kwargs, **kwargs),
        "momentum": lambda: sgd(lr, momentum=cfg.momentum, **sgd_kwargs, **kwargs),
        "nesterov": lambda: sgd(lr, momentum=cfg.momentum, nesterov=True, **sgd_kwargs, **kwargs),
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
        "onecycle": lambda: OneCycle(cfg.learning_rate, total, warmup or max(1, total // 4)),
    }[cfg.schedule]()


def warmup_epochs(cfg, epochs: int) -> float:
    """How many epochs the schedule spends ramping up (the onecycle default: a quarter of the run)."""
    if cfg.schedule == "onecycle":
        return cfg.warmup_epochs or epochs / 4
    return cfg.warmup_epochs if cfg.schedule == "cosine" else 0.0


def current_learning_rate(optimizer) -> float:
    # Keras 3 evaluates the schedule at the optimizer's current iteration here.
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


@keras.saving.register_keras_serializable(package="imgclf")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Triangular one-cycle schedule: start x peak -> peak (linear, `warmup_steps`) -> end x peak at `total_steps`.

    airbench's shape (0.2 -> 1 over 23% of the run -> 0.07): a short ramp lets the high learning
    rate of a BN network arrive safely, the long linear descent does the fine fitting.
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int, start: float = 0.2, end: float = 0.07):
        self.peak, self.total_steps, self.warmup_steps = float(peak), int(total_steps), int(warmup_steps)
        self.start, self.end = float(start), float(end)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        up = self.start + (1.0 - self.start) * step / max(1, self.warmup_steps)
        down_frac = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        down = 1.0 + (self.end - 1.0) * keras.ops.minimum(down_frac, 1.0)
        return self.peak * keras.ops.where(step < self.warmup_steps, up, down)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "start": self.start,
            "end": self.end,
        }


@keras.saving.register_keras_serializable(package="imgclf")
class ScaledBiasSGD(keras.optimizers.SGD):
    """SGD whose batch-norm offsets (beta) take `bias_lr_scale` times larger steps (airbench's bias_scaler).

    Keras 3 has no per-variable learning rates, but `update_step` receives the learning rate per
    variable, so the scale is applied there. Weight decay is unaffected (betas are not decayed).
    """

    def __init__(self, *args, bias_lr_scale: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.bias_lr_scale = float(bias_lr_scale)
        self._scaled = set()

    def build(self, variables):
        super().build(variables)
        # Indices, not names: under TensorFlow update_step sees the backing tf.Variable.
        self._scaled = {self._get_variable_index(v) for v in variables if v.path.split("/")[-1] == "beta"}

    def update_step(self, gradient, variable, learning_rate):
        if self._get_variable_index(variable) in self._scaled:
            learning_rate = learning_rate * self.bias_lr_scale
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "bias_lr_scale": self.bias_lr_scale}


@keras.saving.register_keras_serializable(package="imgclf")
class FollowsBudget(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` read at max(step, time progress x total_steps): it ends when the steps or the budget end.

    A schedule planned in steps (one-cycle, cosine) assumes the run gets all its epochs; when a
    time budget stops it earlier, the learning rate would still be high at the stop. Here the
    budget callback (pipelines/training/time_budget.FollowTheBudget) sets `time_progress` (0..1,
    the share of the budget used) after every batch, and the schedule runs at whichever is further
    along: the step count or the clock. The progress is not saved: a resumed run follows its steps
    until the callback's first batch.
    """

    def __init__(self, schedule, total_steps: int):
        self.schedule = schedule
        self.total_steps = int(total_steps)
        self.time_progress = keras.Variable(0.0, dtype="float32", trainable=False, name="time_progress")

    def __call__(self, step):
        by_time = self.time_progress * float(self.total_steps)
        return self.schedule(keras.ops.maximum(keras.ops.cast(step, "float32"), by_time))

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule), "total_steps": self.total_steps}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["total_steps"])


@keras.saving.register_keras_serializable(package="imgclf")
class Cyclic(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` restarted every `cycle_steps`, `cycles` times: the warm restarts of a snapshot ensemble.

    Each cycle ends annealed (a good model to keep) and the next one's ramp moves the weights
    to another minimum nearby, so the kept models disagree where averaging them pays. Past the
    last cycle (a budget-following clock at 100 %) the rate stays at the last cycle's end.
    """

    def __init__(self, schedule, cycle_steps: int, cycles: int):
        self.schedule = schedule
        self.cycle_steps, self.cycles = int(cycle_steps), int(cycles)

    def __call__(self, step):
        cycle = float(self.cycle_steps)
        step = keras.ops.minimum(keras.ops.cast(step, "float32"), cycle * self.cycles - 1.0)
        return self.schedule(step - cycle * keras.ops.floor(step / cycle))

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "cycle_steps": self.cycle_steps,
            "cycles": self.cycles,
        }

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["cycle_steps"], config["cycles"])
