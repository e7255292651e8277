"""Test-time augmentation inside the model: the saved file averages the predictions itself.

`with_tta(model, "flip")` returns a model that predicts on the image and on its mirror image and
averages the two probability vectors. Because the averaging is part of the saved `.keras` file,
everything that loads it (the test report, `app evaluate`, the served MLflow model, batch
predict) answers exactly what the report measured. Costs 2x the inference time.
"""

import keras

TTA_MODES = ("none", "flip")


@keras.saving.register_keras_serializable(package="imgclf")
class HorizontalFlip(keras.layers.Layer):
    """Mirror images left-right (NHWC), always: the deterministic half of flip augmentation."""

    def call(self, inputs):
        return keras.ops.flip(inputs, axis=2)


def with_tta(model: keras.Model, tta: str) -> keras.Model:
    """`model` itself for "none"; for "flip", mean(model(x), model(mirror(x)))."""
    if tta == "none":
        return model
    if tta != "flip":
        raise ValueError(f"evaluate.tta '{tta}' is unknown; choose one of {', '.join(TTA_MODES)}")
    inputs = keras.Input(shape=model.input_shape[1:], name="pixels")
    views = [model(inputs), model(HorizontalFlip(name="mirror")(inputs))]
    # float32 whatever the global policy: under mixed_bfloat16 the mean would hand serving
    # bfloat16 probabilities (8 bits of mantissa, and a dtype JSON cannot carry).
    mean = keras.layers.Average(dtype="float32", name="tta_mean")(views)
    return keras.Model(inputs, mean, name=f"{model.name}_tta")
