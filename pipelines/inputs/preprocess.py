"""Normalization that travels inside the model, so serving applies exactly what training did."""

import keras
import numpy as np


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (training split only), in 0..255 units."""
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64)
    mean = pixels.mean(axis=0)
    std = np.maximum(pixels.std(axis=0), 1.0)  # a constant channel must not divide by zero
    return mean.tolist(), std.tolist()


def with_preprocessing(model: keras.Model, normalization: str, mean=None, std=None, input_shape=None) -> keras.Model:
    """Prepend `x / 255` or `(x - mean) / std` to a model that expects normalized inputs.

    The result takes raw pixel values (0..255, float) and is saved as one `.keras` file.
    `input_shape` fixes the input of a network built for any image size (the served model).
    """
    inputs = keras.Input(shape=tuple(input_shape or model.input_shape[1:]), name="pixels")
    if normalization == "standardize":
        layer = keras.layers.Normalization(mean=mean, variance=np.square(std).tolist(), name="standardize")
    else:
        layer = keras.layers.Rescaling(1.0 / 255.0, name="scale")
    return keras.Model(inputs, model(layer(inputs)), name=f"{model.name}_classifier")


def normalize_pixels(images: np.ndarray, normalization: str, mean=None, std=None) -> np.ndarray:
    """What the model's first layer does, in numpy: for statistics computed on normalized inputs."""
    pixels = images.astype(np.float32)
    if normalization == "standardize":
        return (pixels - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return pixels / 255.0
