"""Test-time augmentation inside the model: the saved file averages the predictions itself.

`with_tta(model, mode)` returns a model that predicts on several views of each image and
averages the probability vectors:

- "flip": the image and its mirror image (2 views, 2x the inference time);
- "flip_crops": those two, each also shifted by a few pixels up-left and down-right
  (reflection-padded crops, as training's translation augmentation moves images; 6 views, 6x).

Because the averaging is part of the saved `.keras` file, everything that loads it (the test
report, `app evaluate`, the served MLflow model, batch predict) answers exactly what the report
measured.
"""

import keras

TTA_MODES = ("none", "flip", "flip_crops")


@keras.saving.register_keras_serializable(package="imgclf")
class HorizontalFlip(keras.layers.Layer):
    """Mirror images left-right (NHWC), always: the deterministic half of flip augmentation."""

    def call(self, inputs):
        return keras.ops.flip(inputs, axis=2)


@keras.saving.register_keras_serializable(package="imgclf")
class ShiftCrop(keras.layers.Layer):
    """Move the image content by (`dy`, `dx`) pixels, same size: reflection-pad by |shift|, then crop."""

    def __init__(self, dy: int, dx: int, **kwargs):
        super().__init__(**kwargs)
        self.dy, self.dx = int(dy), int(dx)

    def call(self, inputs):
        py, px = abs(self.dy), abs(self.dx)
        padded = keras.ops.pad(inputs, [[0, 0], [py, py], [px, px], [0, 0]], mode="reflect")
        height, width = keras.ops.shape(inputs)[1], keras.ops.shape(inputs)[2]
        # Content moves down by dy: the window starts dy rows above the original's place.
        top, left = py - self.dy, px - self.dx
        return padded[:, top : top + height, left : left + width, :]

    def get_config(self):
        return {**super().get_config(), "dy": self.dy, "dx": self.dx}


def crop_shift(image_size: int) -> int:
    """Pixels a crop view moves: 1/32 of the side (2 px at 64 px), at least 1."""
    return max(1, round(image_size / 32))


def with_tta(model: keras.Model, tta: str, image_shape: tuple[int, ...] | None = None) -> keras.Model:
    """`model` itself for "none"; otherwise the mean of the model's predictions over the mode's views.

    `image_shape` (height, width, channels) fixes the input of a model built for any size.
    """
    if tta == "none":
        return model
    if tta not in TTA_MODES:
        raise ValueError(f"evaluate.tta '{tta}' is unknown; choose one of {', '.join(TTA_MODES)}")
    shape = tuple(image_shape or model.input_shape[1:])
    inputs = keras.Input(shape=shape, name="pixels")
    images = [inputs, HorizontalFlip(name="mirror")(inputs)]
    if tta == "flip_crops":
        shift = crop_shift(min(shape[:2]))
        images += [
            ShiftCrop(sign * shift, sign * shift, name=f"{view}_{name}")(image)
            for view, image in zip(("image", "mirror"), images[:2], strict=True)
            for sign, name in ((-1, "up_left"), (1, "down_right"))
        ]
    views = [model(image) for image in images]
    # float32 whatever the global policy: under mixed_bfloat16 the mean would hand serving
    # bfloat16 probabilities (8 bits of mantissa, and a dtype JSON cannot carry).
    mean = keras.layers.Average(dtype="float32", name="tta_mean")(views)
    return keras.Model(inputs, mean, name=f"{model.name}_tta")
