"""Augmentation from config: every preset, each named transform, clear errors, seeded determinism."""

import numpy as np
import pytest

from pipelines.config.augment import AugmentConfig, TransformSpec
from pipelines.inputs.augment import PRESETS, build_augmenter, transform_names
from tests.helpers import app_command, run_cli

# The transforms the course material shows, plus the geometric ones and noise/dropout.
COURSE_TRANSFORMS = [
    ("RGBShift", {"r_shift_limit": 20}),
    ("HueSaturationValue", {}),
    ("ChannelShuffle", {}),
    ("CLAHE", {}),
    ("RandomBrightnessContrast", {"brightness_limit": 0.3, "contrast_limit": 0.3}),
    ("RandomGamma", {}),
    ("Blur", {"blur_limit": 5}),
    ("MedianBlur", {"blur_limit": 5}),
    ("ToGray", {}),
    ("ImageCompression", {"quality_range": (30, 60)}),
    ("HorizontalFlip", {}),
    ("VerticalFlip", {}),
    ("Rotate", {"limit": 30}),
    ("Affine", {"scale": (0.8, 1.2), "rotate": (-20, 20)}),
    ("RandomResizedCrop", {"scale": (0.5, 1.0)}),
    ("GaussNoise", {}),
    ("CoarseDropout", {}),
]


def photo(seed=0, size=32):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, size)[None, :, None] * np.ones((size, 1, 3))
    return np.clip(base + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("name", "params"), COURSE_TRANSFORMS)
def test_each_named_transform_builds_runs_and_changes_the_image(name, params):
    cfg = AugmentConfig(preset="none", transforms=[TransformSpec(name=name, params={**params, "p": 1.0})])
    augmenter = build_augmenter(cfg, (32, 32), seed=1)
    image = photo()
    out = augmenter(image=image)["image"]
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    assert not np.array_equal(out, image), f"{name} with p=1 left the image unchanged"


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("channels", [1, 3])
def test_every_preset_runs_on_gray_and_color(preset, channels):
    augmenter = build_augmenter(AugmentConfig(preset=preset), (24, 24), seed=0, channels=channels)
    if preset == "none":
        assert augmenter is None
        return
    image = photo(size=24)[..., :channels]
    for _ in range(5):
        assert augmenter(image=image)["image"].shape == image.shape


def test_presets_cover_the_course_transforms():
    used = {name for specs in PRESETS.values() for name, params in specs for name in [name, *_children(params)]}
    for name in (
        "RGBShift",
        "HueSaturationValue",
        "ChannelShuffle",
        "CLAHE",
        "RandomBrightnessContrast",
        "RandomGamma",
        "Blur",
        "MedianBlur",
        "ToGray",
        "ImageCompression",
        "HorizontalFlip",
        "Affine",
        "RandomResizedCrop",
        "GaussNoise",
        "CoarseDropout",
    ):
        assert name in used, name


def _children(params):
    return [c[0] for c in params.get("transforms", [])]


def test_same_seed_same_stream_other_seed_other_stream():
    image = photo()

    def stream(seed):
        augmenter = build_augmenter(AugmentConfig(preset="heavy"), (32, 32), seed=seed)
        return [augmenter(image=image)["image"] for _ in range(6)]

    first, again, other = stream(5), stream(5), stream(6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        (TransformSpec(name="RandomBrightness"), ["'RandomBrightness' is unknown", "did you mean", "RGBShift"]),
        (TransformSpec(name="Blur", params={"blur_limt": 3}), ["'Blur'", "blur_limt"]),
        (TransformSpec(name="Blur", params={"blur_limit": "big"}), ["'Blur'", "blur_limit"]),
        (TransformSpec(name="RandomCrop", params={"height": 8, "width": 8}), ["turns [32, 32] images into [8, 8]"]),
        (TransformSpec(name="ISONoise", params={"p": 1}), ["cannot run on 1-channel images"]),
    ],
)
def test_bad_transforms_fail_in_one_line(spec, fragments):
    channels = 1 if spec.name == "ISONoise" else 3
    with pytest.raises(ValueError) as err:
        build_augmenter(AugmentConfig(preset="none", transforms=[spec]), (32, 32), seed=0, channels=channels)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_container_transforms_take_children():
    spec = TransformSpec(name="OneOf", params={"transforms": [["Blur", {"blur_limit": 3}], "MedianBlur"], "p": 1.0})
    augmenter = build_augmenter(AugmentConfig(preset="none", transforms=[spec]), (32, 32), seed=0)
    assert augmenter(image=photo())["image"].shape == (32, 32, 3)


def test_transform_names_lists_real_albumentations_classes():
    names = transform_names()
    assert {"Affine", "CoarseDropout", "OneOf"} <= set(names)
    assert "Compose" not in names


def test_preview_augment_command_writes_the_grid(tmp_path):

    from PIL import Image

    out_file = tmp_path / "grid.png"
    args = ["preview-augment", "augment.preset=heavy", "data.image_size=[16,16]", "--out", str(out_file)]
    out = run_cli(app_command(*args, "--originals", "3", "--versions", "5"), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "3 training images x 5 augmented versions" in out.stdout
    grid = Image.open(out_file)
    # 1 original + 5 versions per row, 3 rows; 8-px digits upscaled to 128-px tiles, plus labels and gaps.
    width, height = grid.size
    assert 6 * 128 <= width <= 6 * 128 + 80
    assert 3 * 128 <= height <= 3 * 128 + 160
    bad = run_cli(
        app_command("preview-augment", "augment.transforms=[{name: Blurr}]", "--out", str(out_file)), timeout=120
    )
    assert bad.returncode == 1
    assert "did you mean 'Blur'" in bad.stderr
    assert "Traceback" not in bad.stderr
