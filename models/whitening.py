"""A frozen patch-whitening first layer (the airbench / hlb-CIFAR10 stem), set from training images.

Each output channel is a principal direction of the training set's k x k x C patches, scaled by
1/sqrt(eigenvalue + eps), once with each sign: the layer decorrelates neighbouring pixels so that
the first trained conv sees inputs of unit variance in every direction, which is what lets a
small VGG train in a few epochs. Its weights are not trained; `fit_whitening` sets them from a
numpy batch of (normalized) training images before training, and they are saved in the `.keras`
file like any weight (registered layer, no Lambda: loads under safe_mode).
"""

import keras
import numpy as np

CHUNK = 128  # images per covariance chunk: bounds memory (a 2x2 patch per pixel is 4x the image)


@keras.saving.register_keras_serializable(package="imgclf")
class PatchWhitening(keras.layers.Layer):
    """k x k 'valid' convolution with 2 * k * k * C frozen filters: +-(eigenvector / sqrt(eigval + eps))."""

    def __init__(self, patch_size: int = 2, eps: float = 5e-4, **kwargs):
        super().__init__(**kwargs)
        self.patch_size, self.eps = int(patch_size), float(eps)
        self.trainable = False

    def build(self, input_shape):
        k, channels = self.patch_size, int(input_shape[-1])
        dims = k * k * channels
        # Until fitted: an identity-like projection (each patch element, both signs), never random.
        eye = np.eye(dims, dtype="float32").reshape(k, k, channels, dims)
        init = np.concatenate([eye, -eye], axis=-1)
        self.kernel = self.add_weight(
            name="kernel", shape=init.shape, initializer=keras.initializers.Constant(init), trainable=False
        )
        self.bias = self.add_weight(name="bias", shape=(2 * dims,), initializer="zeros", trainable=False)

    def call(self, inputs):
        return keras.ops.conv(inputs, self.kernel, strides=1, padding="valid") + self.bias

    def compute_output_shape(self, input_shape):
        k = self.patch_size
        spatial = [None if d is None else d - k + 1 for d in input_shape[1:3]]
        return (input_shape[0], *spatial, 2 * k * k * input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size, "eps": self.eps}

    def fit(self, images: np.ndarray) -> None:
        """Set the filters from `images` (N, H, W, C), already normalized as the model's input is."""
        kernel, bias = whitening_weights(images, self.patch_size, self.eps)
        self.kernel.assign(kernel)
        self.bias.assign(bias)


def patches(images: np.ndarray, k: int) -> np.ndarray:
    """Every k x k patch of every image, flattened in the (row, col, channel) order of a Keras kernel."""
    windows = np.lib.stride_tricks.sliding_window_view(images, (k, k), axis=(1, 2))  # N, H', W', C, k, k
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * images.shape[-1])


def whitening_weights(images: np.ndarray, k: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Kernel (k, k, C, 2kkC) and bias (2kkC,) that map patches to zero mean and identity covariance.

    Patches are centred (the bias subtracts the mean), unlike airbench, so that the first half of
    the outputs has exactly the identity covariance and the layer needs no trained bias.
    """
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"whitening needs a non-empty batch of images (N, H, W, C), got shape {images.shape}")
    if min(images.shape[1:3]) < k:
        raise ValueError(f"images of {images.shape[1]}x{images.shape[2]} px are smaller than a {k}x{k} patch")
    dims = k * k * images.shape[-1]
    total, outer, count = np.zeros(dims), np.zeros((dims, dims)), 0
    for start in range(0, len(images), CHUNK):
        flat = patches(images[start : start + CHUNK].astype(np.float64), k)
        total += flat.sum(axis=0)
        outer += flat.T @ flat
        count += len(flat)
    mean = total / count
    covariance = outer / count - np.outer(mean, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending; columns are eigenvectors
    order = np.argsort(eigenvalues)[::-1]  # strongest direction first, as in airbench
    scaled = eigenvectors[:, order] / np.sqrt(np.maximum(eigenvalues[order], 0.0) + eps)
    weights = np.concatenate([scaled, -scaled], axis=1)  # both signs: a ReLU after keeps all information
    kernel = weights.reshape(k, k, images.shape[-1], 2 * dims)
    bias = -(mean @ weights)
    return kernel.astype("float32"), bias.astype("float32")


def whitening_layers(model) -> list[PatchWhitening]:
    """Every PatchWhitening layer of `model`, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, PatchWhitening):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(whitening_layers(layer))
    return found


def fit_whitening(model, images: np.ndarray) -> int:
    """Fit every whitening layer of `model` on `images` (normalized); returns how many were fitted."""
    layers = whitening_layers(model)
    for layer in layers:
        layer.fit(images)
    return len(layers)


def whitening_stem(x, cfg, activation):
    """Whitening layer + activation when `cfg.whiten_patch_size` > 0; `x` unchanged otherwise."""
    if not cfg.whiten_patch_size:
        return x
    x = PatchWhitening(cfg.whiten_patch_size, cfg.whiten_eps, name="whiten")(x)
    return activation(x)
