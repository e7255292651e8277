"""Inception's auxiliary classifiers: a weighted loss while training, absent at inference."""

import keras
import numpy as np
import pytest

from models import build_compile_args, build_model, build_training_model, inference_model
from models.auxiliary import AuxiliaryLossModel
from models.config import LossConfig
from pipelines.inputs.preprocess import with_preprocessing
from tests.models.conftest import IMAGE_SHAPE, NUM_CLASSES, batch, tiny_config


def _training_model(weight=0.3):
    network = build_model(tiny_config("inception", dropout=0.0), IMAGE_SHAPE, NUM_CLASSES)
    model = build_training_model(network, weight)
    model.compile(optimizer="sgd", **build_compile_args("multiclass", LossConfig(), NUM_CLASSES))
    return network, model


def test_network_has_two_auxiliary_outputs_and_training_model_wraps_it():
    network, model = _training_model()
    assert set(network.output) == {"predictions", "aux1", "aux2"}
    assert isinstance(model, AuxiliaryLossModel)
    plain = build_model(tiny_config("inception", aux_classifiers=False), IMAGE_SHAPE, NUM_CLASSES)
    assert build_training_model(plain) is plain
    assert inference_model(plain) is plain


def test_training_loss_is_main_plus_weighted_auxiliary_losses():
    _, model = _training_model(weight=0.3)
    x, y = batch()
    outputs = model(x, training=True)
    ce = keras.losses.CategoricalCrossentropy()
    expected = float(ce(y, outputs["predictions"])) + 0.3 * (
        float(ce(y, outputs["aux1"])) + float(ce(y, outputs["aux2"]))
    )
    assert float(model.compute_loss(x=x, y=y, y_pred=outputs, training=True)) == pytest.approx(expected, rel=1e-5)
    # Evaluation sees the main output only, like the served model.
    main = model(x, training=False)
    assert float(model.compute_loss(x=x, y=y, y_pred=main, training=False)) == pytest.approx(
        float(ce(y, main)), rel=1e-5
    )


def test_train_checkpoint_and_serve_like_train_py_does(tmp_path):
    network = build_model(tiny_config("inception"), IMAGE_SHAPE, NUM_CLASSES)
    # As in train.py: preprocessing wraps the dict-output network, the wrapper adds the aux losses.
    model = build_training_model(with_preprocessing(network, "scale"), 0.3)
    model.compile(optimizer="sgd", **build_compile_args("multiclass", LossConfig(), NUM_CLASSES))
    pixels = np.random.default_rng(2).uniform(0, 255, size=(16, *IMAGE_SHAPE)).astype("float32")
    _, y = batch(n=16)
    history = model.fit(pixels, y, validation_data=(pixels, y), epochs=1, batch_size=8, verbose=0).history
    # Metric names as for any model, so callbacks can monitor val_accuracy.
    assert set(history) == {"loss", "accuracy", "top_2_accuracy", "val_loss", "val_accuracy", "val_top_2_accuracy"}
    expected = model.predict_on_batch(pixels)
    assert expected.shape == (16, NUM_CLASSES)

    # ModelCheckpoint saves the training model: it must load back under safe_mode.
    model.save(tmp_path / "best.keras")
    restored = keras.saving.load_model(tmp_path / "best.keras", safe_mode=True)
    assert isinstance(restored, AuxiliaryLossModel)
    np.testing.assert_allclose(restored.predict_on_batch(pixels), expected, atol=1e-6)

    # The served file: trained weights, one output, no auxiliary layers at all.
    served = with_preprocessing(inference_model(network), "scale")
    served.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False, safe_mode=True)
    inner = next(layer for layer in loaded.layers if isinstance(layer, keras.Model))
    assert not [layer.name for layer in inner.layers if layer.name.startswith("aux")]
    assert loaded.output_shape == (None, NUM_CLASSES)
    np.testing.assert_allclose(loaded.predict_on_batch(pixels), expected, atol=1e-6)
