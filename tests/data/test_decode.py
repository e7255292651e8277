"""The one decode function, on every kind of file a real folder holds: generated here, not mocked."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from data.decode import DecodeError, decode_image


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def gradient(width=40, height=30) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :].repeat(height, 0)
    return np.stack([x, x[::-1, ::-1] * 0 + 128, 255 - x], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP"])
def test_common_formats_decode_to_requested_shape(fmt):
    data = encode(Image.fromarray(gradient()), fmt)
    out = decode_image(data, (16, 20), 3)
    assert out.shape == (16, 20, 3)
    assert out.dtype == np.uint8
    gray = decode_image(data, (16, 20), 1)
    assert gray.shape == (16, 20, 1)
    assert 0 < out.mean() < 255  # real pixels, not a blank canvas


def test_16_bit_png_keeps_its_range_instead_of_saturating():
    wide = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)  # 0..65520
    data = encode(Image.fromarray(wide), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = decode_image(data, (64, 64), 1)[..., 0]
    assert out.min() == 0
    assert out.max() >= 250
    assert 100 < out.mean() < 155, "a 16-bit image must not saturate to white"
    np.testing.assert_allclose(out[32, 0], wide[32, 0] / 65535 * 255, atol=1)


def test_cmyk_jpeg_becomes_the_right_rgb():
    red = Image.new("RGB", (24, 24), (220, 30, 40)).convert("CMYK")
    out = decode_image(encode(red, "JPEG", quality=95), (24, 24), 3)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), (220, 30, 40), atol=12)


def test_exif_orientation_is_applied():
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = 255  # left half white in the stored (landscape) pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = encode(Image.fromarray(img), "JPEG", exif=exif.tobytes(), quality=95)
    out = decode_image(data, (40, 20), 1, resize="stretch")[..., 0]
    # Displayed upright it is portrait 20 wide x 40 high, white on top.
    assert out[:15].mean() > 200
    assert out[25:].mean() < 50


def test_palette_png_with_and_without_transparency():
    rgb = Image.fromarray(gradient()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    plain = decode_image(encode(rgb, "PNG"), (30, 40), 3)
    assert plain.shape == (30, 40, 3)
    assert plain.std() > 10
    transparent = rgb.copy()
    transparent.info["transparency"] = 0
    data = encode(transparent, "PNG", transparency=0)
    out = decode_image(data, (30, 40), 3)
    index0 = np.asarray(transparent) == 0
    assert index0.any()
    assert (out[index0] == 255).all(), "transparent pixels become white"


def test_rgba_png_composites_on_white():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :5, 3] = 255  # left opaque red, right fully transparent
    out = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), (10, 10), 3)
    assert tuple(out[5, 2]) == (200, 0, 0)
    assert tuple(out[5, 8]) == (255, 255, 255)


def test_resize_policies_differ_and_keep_shape():
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, 20:40] = 255
    data = encode(Image.fromarray(wide), "PNG")
    stretch, crop, pad = (decode_image(data, (20, 20), 1, resize=r)[..., 0] for r in ("stretch", "center_crop", "pad"))
    assert crop.mean() > 240  # only the white middle survives the crop
    assert pad[:5].max() == 0
    assert pad[10, 8:12].min() > 200
    assert 60 < stretch.mean() < 110


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"this is a text file named photo.jpg\n", "not an image"),
    ],
)
def test_non_images_raise_decode_error_with_reason(data, reason):
    with pytest.raises(DecodeError, match=reason):
        decode_image(data, (8, 8), 3)


def test_truncated_jpeg_is_refused():
    data = encode(Image.fromarray(gradient(200, 200)), "JPEG", quality=95)
    with pytest.raises(DecodeError, match=r"truncated|not a readable image"):
        decode_image(data[: len(data) // 2], (8, 8), 3)


def test_bomb_header_is_refused_before_decoding():
    # A PNG that declares 100000 x 100000 pixels in its header: 10 G pixels from a few bytes.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    with pytest.raises(DecodeError, match=r"over the .*pixel limit"):
        decode_image(data, (8, 8), 3, max_pixels=40_000_000)


def test_decode_error_is_a_value_error_for_callers():
    assert issubclass(DecodeError, ValueError)
