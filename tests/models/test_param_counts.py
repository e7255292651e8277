"""Parameter counts against the papers and Keras Applications."""

import gc

import pytest

from models import build_model, inference_model
from models.config import family_config

PAPER = dict(batch_norm=False, width_multiplier=1.0)


def test_vgg16_paper_head_at_224_has_exactly_138_357_544_parameters():
    # 138M float32 weights (~550 MB): built once, counted, never run.
    model = build_model(family_config(name="vgg", vgg_depth=16, vgg_head="paper", **PAPER), (224, 224, 3), 1000)
    try:
        assert model.count_params() == 138_357_544
    finally:
        del model
        gc.collect()


# Convolutional parameters of configurations A, B, D, E (torchvision / keras.applications without
# the top), plus a global-average-pooling head: 512 * 1000 + 1000 = 513,000.
@pytest.mark.parametrize(
    ("depth", "conv_params"), [(11, 9_220_480), (13, 9_404_992), (16, 14_714_688), (19, 20_024_384)]
)
def test_vgg_depths_match_the_reference_convolution_counts(depth, conv_params):
    model = build_model(family_config(name="vgg", vgg_depth=depth, vgg_head="gap", **PAPER), (32, 32, 3), 1000)
    assert model.count_params() == conv_params + 513_000


def test_googlenet_paper_configuration_count():
    cfg = family_config(name="inception", inception_modules="googlenet", inception_stem="paper", **PAPER)
    model = build_model(cfg, (224, 224, 3), 1000)
    assert model.count_params() == 6_998_552
    biases = sum(w.numpy().size for w in model.weights if w.path.endswith("bias"))
    assert biases == 8_280
    assert abs(model.count_params() - 6.8e6) / 6.8e6 < 0.03  # "about 6.8M"

    with_aux = build_model(cfg.model_copy(update={"aux_classifiers": True}), (224, 224, 3), 1000)
    assert with_aux.count_params() == 6_998_552 + 3_188_840 + 3_190_888
    assert inference_model(with_aux).count_params() == 6_998_552
