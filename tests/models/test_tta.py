"""Test-time augmentation averages the image's and the mirror image's predictions, and survives saving."""

import keras
import numpy as np
import pytest

from models.tta import TTA_MODES, HorizontalFlip, ShiftCrop, crop_shift, with_tta


def _asymmetric_model():
    """Softmax over a dense layer on flattened pixels: left and right matter, so flips change the answer."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 6, 3))
    outputs = keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def test_flip_tta_is_the_mean_of_both_views(tmp_path):
    model = _asymmetric_model()
    x = np.random.default_rng(0).uniform(0, 255, size=(3, 4, 6, 3)).astype("float32") / 255
    plain, mirrored = model.predict(x, verbose=0), model.predict(x[:, :, ::-1], verbose=0)
    assert not np.allclose(plain, mirrored)  # the test would prove nothing on a symmetric model

    tta = with_tta(model, "flip")
    expected = (plain + mirrored) / 2
    np.testing.assert_allclose(tta.predict(x, verbose=0), expected, rtol=1e-5)
    np.testing.assert_allclose(tta.predict(x, verbose=0).sum(axis=1), 1.0, rtol=1e-5)  # still probabilities

    path = tmp_path / "tta.keras"
    tta.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5)


def test_flip_layer_mirrors_left_right_only():
    x = np.arange(2 * 3 * 4 * 1, dtype="float32").reshape(2, 3, 4, 1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(HorizontalFlip()(x)), x[:, :, ::-1])


def test_none_is_the_model_itself_and_unknown_modes_are_refused():
    model = _asymmetric_model()
    assert with_tta(model, "none") is model
    with pytest.raises(ValueError, match=r"evaluate\.tta 'crops' is unknown; choose one of none, flip, flip_crops"):
        with_tta(model, "crops")


def _shifted(x, dy, dx):
    """numpy reference: content moved by (dy, dx), borders filled by reflection."""
    p = max(abs(dy), abs(dx))
    padded = np.pad(x, [(0, 0), (p, p), (p, p), (0, 0)], mode="reflect")
    h, w = x.shape[1:3]
    return padded[:, p - dy : p - dy + h, p - dx : p - dx + w]


def test_shift_crop_moves_the_content_and_reflects_the_border():
    x = np.arange(1 * 5 * 6 * 1, dtype="float32").reshape(1, 5, 6, 1)
    moved = keras.ops.convert_to_numpy(ShiftCrop(1, 2)(x))
    np.testing.assert_array_equal(moved[0, 1:, 2:, 0], x[0, :-1, :-2, 0])  # content one row down, two columns right
    np.testing.assert_array_equal(moved[0, 0, 2:, 0], x[0, 1, :-2, 0])  # top row reflected from row 1
    np.testing.assert_array_equal(moved, _shifted(x, 1, 2))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ShiftCrop(-1, -2)(x)), _shifted(x, -1, -2))


def test_flip_crops_tta_is_the_mean_of_six_views_and_survives_saving(tmp_path):
    model = _asymmetric_model()
    x = np.random.default_rng(1).uniform(0, 1, size=(3, 4, 6, 3)).astype("float32")
    s = crop_shift(4)
    assert s == 1
    views = [x, x[:, :, ::-1]]
    views += [_shifted(v, sign * s, sign * s) for v in views for sign in (-1, 1)]
    expected = np.mean([model.predict(v, verbose=0) for v in views], axis=0)
    assert not np.allclose(expected, with_tta(model, "flip").predict(x, verbose=0), atol=1e-4)  # the crops count

    tta = with_tta(model, "flip_crops")
    np.testing.assert_allclose(tta.predict(x, verbose=0), expected, rtol=1e-5)
    tta.save(tmp_path / "tta.keras")
    loaded = keras.saving.load_model(tmp_path / "tta.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5)


def test_the_config_offers_exactly_the_tta_modes():
    import typing

    from pipelines.config.experiment import EvaluateConfig

    assert typing.get_args(EvaluateConfig.model_fields["tta"].annotation) == TTA_MODES


@pytest.mark.parametrize("family", ["vgg", "inception"])
def test_a_model_trained_in_bfloat16_saves_loads_and_serves_float32_probabilities(family, tmp_path):
    """runtime.mixed_precision: the shipped flowers configs train in bf16; what serving loads must still
    answer float32 probabilities, with the whitening layer and TTA inside, in safe_mode."""
    from models import build_model
    from tests.models.conftest import IMAGE_SHAPE, NUM_CLASSES, batch, tiny_config

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        cfg = tiny_config(family, aux_classifiers=False, whiten_patch_size=2 if family == "vgg" else 0)
        model = build_model(cfg, IMAGE_SHAPE, NUM_CLASSES)
        assert model.layers[-1].compute_dtype == "float32"  # the head: softmax in float32
        x, y = batch()
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)
        served = with_tta(model, "flip")
        expected = served.predict(x, verbose=0)
        served.save(tmp_path / "model.keras")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    answer = loaded.predict(x, verbose=0)
    assert answer.dtype == np.float32
    np.testing.assert_allclose(answer.sum(axis=1), 1.0, rtol=1e-3)
    np.testing.assert_allclose(answer, expected, atol=1e-2)  # the same bf16 compute, reloaded
