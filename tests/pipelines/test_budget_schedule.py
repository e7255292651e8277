"""A time-budgeted run's learning-rate schedule ends when the budget ends, not at a step count it never reaches."""

import time

import keras
import numpy as np

from models.config import OptimizerConfig
from models.optimizers import FollowsBudget, OneCycle, build_optimizer, current_learning_rate
from pipelines.training.time_budget import FollowTheBudget, TimeBudget


def test_the_schedule_runs_at_the_step_or_the_clock_whichever_is_further():
    schedule = FollowsBudget(OneCycle(1.0, total_steps=100, warmup_steps=25), total_steps=100)
    assert float(schedule(10)) == float(OneCycle(1.0, 100, 25)(10))  # no time used: the steps decide
    schedule.time_progress.assign(0.5)
    assert float(schedule(10)) == float(OneCycle(1.0, 100, 25)(50))  # half the budget: the middle
    schedule.time_progress.assign(1.0)
    np.testing.assert_allclose(float(schedule(10)), 0.07, rtol=1e-5)  # the budget is used: the annealed end


def test_a_budgeted_optimizer_follows_the_budget_and_a_constant_rate_stays_a_float():
    scheduled = OptimizerConfig(name="sgd", learning_rate=0.1, schedule="onecycle")
    assert isinstance(build_optimizer(scheduled, 10, 5, follow_budget=True)._learning_rate, FollowsBudget)
    assert not isinstance(build_optimizer(scheduled, 10, 5)._learning_rate, FollowsBudget)
    constant = OptimizerConfig(name="sgd", learning_rate=0.1)  # ReduceLROnPlateau needs a float
    assert isinstance(build_optimizer(constant, 10, 5, follow_budget=True)._learning_rate, keras.Variable)


class _SlowBatches(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.05)


def test_a_budget_stop_leaves_the_learning_rate_annealed():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    steps, epochs, peak = 4, 1000, 0.1  # planned for 1,000 epochs; the budget allows a few
    cfg = OptimizerConfig(name="sgd", learning_rate=peak, schedule="onecycle")
    model.compile(build_optimizer(cfg, steps, epochs, follow_budget=True), "mse")
    budget = TimeBudget(seconds=2.0)
    x, y = np.ones((32, 4), "float32"), np.zeros((32, 3), "float32")
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=[_SlowBatches(), budget, FollowTheBudget(budget)])

    assert budget.exhausted
    assert budget.stopped_epoch < epochs
    # Without following the budget, epoch ~10 of 1,000 would still be warming up (0.2 x peak rising).
    assert current_learning_rate(model.optimizer) < 0.15 * peak
