"""One seed for Python, NumPy, TensorFlow (and, through the pipeline, albumentations)."""

import os
import random

import keras
import numpy as np
import tensorflow as tf


def seed_everything(seed: int, deterministic: bool = False) -> None:
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)  # also seeds tf.random
    if deterministic:
        tf.config.experimental.enable_op_determinism()
