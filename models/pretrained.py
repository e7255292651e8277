"""Networks whose backbone starts from trained weights, with a new head for this dataset's classes.

Two kinds of start (`model.pretrained`):
- `imagenet`: Keras Applications' VGG16/VGG19 (family `vgg`) or InceptionV3 (`inception`), without
  their 1000-class top. The weights file is read by the caller (pipelines/training/fine_tune.py).
- a model this project trained: its served `.keras` file, loaded by the caller; everything before
  its output layer is the backbone.

Either way the network takes this run's normalized pixels (what `with_preprocessing` feeds every
family), turns them back into 0..255 pixels, resizes them to the size the backbone was trained at,
applies the backbone's own normalization and runs the backbone in inference mode (`training=False`:
its batch norm keeps the statistics it learned, also while it is fine-tuned). Then global average
pooling (for a convolutional output), dropout and the task's head (models/heads.py).
"""

import keras
import numpy as np
from keras import ops

from models.heads import build_head

# Keras Applications for `imagenet`: family -> {depth: (application, weights file without top, pixel mode)}.
# The file names are Keras' own: `keras.applications.VGG16(weights="imagenet")` caches the same file.
IMAGENET = {
    "vgg": {
        16: ("VGG16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "caffe"),
        19: ("VGG19", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "caffe"),
    },
    "inception": {None: ("InceptionV3", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "tf")},
}
# Smallest input each application takes (Keras refuses smaller); smaller images are upscaled to it.
MIN_SIDE = {"VGG16": 32, "VGG19": 32, "InceptionV3": 75}
# Where Keras downloads each file from when it has network (keras.applications' WEIGHTS_PATH_NO_TOP).
KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/{folder}/{file}"
URL_FOLDER = {"VGG16": "vgg16", "VGG19": "vgg19", "InceptionV3": "inception_v3"}


def imagenet_choice(family: str, vgg_depth: int) -> tuple[str, str, str]:
    """(application name, weights file name, pixel mode) for `model.pretrained=imagenet`, or one line."""
    if family not in IMAGENET:
        raise ValueError(f"model.pretrained=imagenet needs model.name vgg or inception, not '{family}'")
    choices = IMAGENET[family]
    key = vgg_depth if family == "vgg" else None
    if key not in choices:
        raise ValueError(f"model.pretrained=imagenet has VGG weights for model.vgg_depth 16 or 19, not {vgg_depth}")
    return choices[key]


def imagenet_backbone(application: str, image_side: int, channels: int) -> keras.Model:
    """The application without its top and without weights (the caller loads them), named `backbone`."""
    if channels != 3:
        raise ValueError(f"model.pretrained=imagenet needs colour images (3 channels), these have {channels}")
    side = max(image_side, MIN_SIDE[application])
    app = getattr(keras.applications, application)(include_top=False, weights=None, input_shape=(side, side, 3))
    return keras.Model(app.input, app.output, name="backbone")


@keras.saving.register_keras_serializable(package="imgclf")
class ImageNetPixels(keras.layers.Layer):
    """0..255 RGB -> what the ImageNet weights were trained on (keras.applications' preprocess_input).

    caffe (VGG): BGR order, minus the ImageNet channel means; tf (Inception): scaled to [-1, 1].
    """

    CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

    def __init__(self, mode: str = "caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "tf"):
            raise ValueError(f"pixel mode '{mode}' is unknown; choose caffe or tf")
        self.mode = mode

    def call(self, pixels):
        if self.mode == "tf":
            return pixels / 127.5 - 1.0
        return ops.flip(pixels, axis=-1) - ops.convert_to_tensor(self.CAFFE_MEAN_BGR, dtype=pixels.dtype)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def backbone_of(served: keras.Model) -> tuple[keras.Model, list, tuple[int, ...]]:
    """(backbone, its normalization layers, its input shape) of a model this project saved.

    The served file is [TTA wrapper ->] classifier (pixels -> normalization -> network); the backbone
    is the network up to the input of its output layer (`predictions`, or the binary head's sigmoid).
    """
    classifier = _only_nested_model(served) if _nested_models(served) and _is_tta(served) else served
    network = _only_nested_model(classifier)
    normalization = [
        layer for layer in classifier.layers if not isinstance(layer, keras.Model | keras.layers.InputLayer)
    ]
    names = {layer.name for layer in network.layers}
    head = network.get_layer("predictions_sigmoid" if "predictions_sigmoid" in names else "predictions")
    backbone = keras.Model(network.inputs, head.input, name="backbone")
    return backbone, normalization, tuple(classifier.input_shape[1:])


def _nested_models(model: keras.Model) -> list[keras.Model]:
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def _only_nested_model(model: keras.Model) -> keras.Model:
    nested = _nested_models(model)
    if len(nested) != 1:
        raise ValueError(f"model '{model.name}' is not a classifier this project saved (no single inner network)")
    return nested[0]


def _is_tta(model: keras.Model) -> bool:
    return model.name.endswith("_tta")


def pretrained_network(  # noqa: PLR0913 - the new network's inputs, each needed
    backbone: keras.Model,
    backbone_normalization: list,
    backbone_shape: tuple[int, ...],
    cfg,
    input_shape: tuple[int, ...],
    num_classes: int,
    normalization: str,
    mean=None,
    std=None,
) -> keras.Model:
    """This run's network: its normalized pixels -> 0..255 -> backbone size -> backbone -> new head.

    `backbone_normalization`: the layers that turn 0..255 pixels into the backbone's inputs.
    """
    channels = input_shape[-1]
    if channels != backbone_shape[-1]:
        raise ValueError(
            f"model.pretrained: the backbone takes {backbone_shape[-1]}-channel images, this dataset has {channels}"
        )
    inputs = keras.Input(shape=tuple(input_shape), name="normalized_pixels")
    if normalization == "standardize":
        x = keras.layers.Normalization(mean=mean, variance=np.square(std).tolist(), invert=True, name="to_pixels")(
            inputs
        )
    else:
        x = keras.layers.Rescaling(255.0, name="to_pixels")(inputs)
    if tuple(input_shape[:2]) != tuple(backbone_shape[:2]):  # any size in (progressive resizing): resized too
        x = keras.layers.Resizing(*backbone_shape[:2], name="to_backbone_size")(x)
    for layer in backbone_normalization:
        x = layer(x)
    x = backbone(x, training=False)  # batch norm in inference mode, frozen or not (Keras' fine-tuning guide)
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    outputs = build_head(x, cfg.task, num_classes)
    return keras.Model(inputs, outputs, name=f"{cfg.name}_pretrained")


def set_backbone_trainable(network: keras.Model, trainable: bool) -> None:
    network.get_layer("backbone").trainable = trainable


def scale_backbone_learning_rate(optimizer, network: keras.Model, scale: float) -> None:
    """Make `optimizer` step the backbone's variables at `scale` x its learning rate (the head at 1 x).

    Keras 3 has no per-variable learning rates, but every optimizer's `update_step` receives the
    learning rate per variable (as ScaledBiasSGD uses): this wraps that method on this instance,
    so the optimizer stays a plain Adam/SGD/... for saving.
    """
    backbone_ids = {id(v) for v in network.get_layer("backbone").trainable_variables}
    original = optimizer.update_step
    scaled: set[int] = set()

    def build(variables, _build=optimizer.build):
        _build(variables)
        scaled.update(optimizer._get_variable_index(v) for v in variables if id(v) in backbone_ids)

    def update_step(gradient, variable, learning_rate):
        if optimizer._get_variable_index(variable) in scaled:
            learning_rate = learning_rate * scale
        return original(gradient, variable, learning_rate)

    optimizer.build = build
    optimizer.update_step = update_step
