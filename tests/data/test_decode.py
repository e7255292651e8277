"""The one decode function, on every kind of file a real folder holds: generated here, not mocked."""

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.decode import IMAGE_FORMATS, IMAGE_SUFFIXES, DecodeError, decode_image

# A real (tiny) Encapsulated PostScript file, written by hand: Pillow's EPS plugin renders such
# files by running Ghostscript on them.
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nnewpath 0 0 moveto 8 8 lineto stroke\nshowpage\n%%EOF\n"
ROOT = Path(__file__).resolve().parents[2]


def fake_ghostscript(folder: Path) -> tuple[Path, Path]:
    """A stand-in `gs` in `folder` that records every call: (folder to put first on PATH, its log)."""
    folder.mkdir(parents=True, exist_ok=True)
    calls = folder / "gs-calls.log"
    script = folder / "gs"
    # Answers `gs --version` as the real one does, so Pillow would go on to render with it.
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1" = --version ] && echo 10.0 && exit 0\nexit 1\n')
    script.chmod(0o755)
    return folder, calls


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


def test_eps_named_png_is_refused_in_one_line_and_ghostscript_never_runs(tmp_path):
    bin_dir, calls = fake_ghostscript(tmp_path / "bin")
    (tmp_path / "photo.png").write_bytes(EPS)
    # A fresh interpreter: Pillow remembers whether it found Ghostscript once per process.
    code = (
        "import sys; from pathlib import Path; from data.decode import decode_image, DecodeError\n"
        "try: decode_image(Path(sys.argv[1]).read_bytes(), (8, 8), 3)\n"
        "except DecodeError as err: print(err)\n"
    )
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "photo.png")], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("not an image (EPS is not accepted")
    assert len(done.stdout.splitlines()) == 1
    assert "gs" not in done.stdout.split()  # no command line echoed
    assert not calls.exists(), f"Ghostscript ran: {calls.read_text()}"


@pytest.mark.parametrize(("fmt", "name"), [("PPM", "PPM"), ("ICO", "ICO"), ("PCX", "PCX"), ("JPEG2000", "JPEG2000")])
def test_formats_outside_the_list_are_refused_by_name(fmt, name):
    data = encode(Image.fromarray(gradient(16, 16)), fmt)
    with pytest.raises(DecodeError, match=rf"^not an image \({name} is not accepted"):
        decode_image(data, (8, 8), 3)


def test_every_listed_format_decodes_whatever_the_suffix_says():
    assert {".jpg", ".png", ".tif", ".tiff", ".webp"} <= IMAGE_SUFFIXES
    for fmt in set(IMAGE_FORMATS.values()):
        assert decode_image(encode(Image.fromarray(gradient()), fmt), (8, 8), 3).shape == (8, 8, 3)


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


def test_decoded_size_is_checked_from_the_header_before_decoding():
    """A 77 KB 16-bit PNG declaring 6300x6300 (79 MB of pixels): refused at once, not decoded."""
    import time

    from data.decode import DEFAULT_MAX_DECODED_BYTES

    data = encode(Image.new("I;16", (6300, 6300)), "PNG")
    assert len(data) < 100_000
    started = time.perf_counter()
    with pytest.raises(DecodeError, match=f"79,380,000 bytes decoded.*{DEFAULT_MAX_DECODED_BYTES:,}-byte limit"):
        decode_image(data, (8, 8), 1)
    assert time.perf_counter() - started < 0.5  # before: ~7 s and ~0.9 GB to decode it


def test_a_large_jpeg_is_decoded_at_reduced_scale_within_the_limit():
    """6000x4000 RGB is 72 MB decoded; JPEG's DCT scaling decodes it at 1/8 (750x500, 1.1 MB)."""
    photo = np.zeros((4000, 6000, 3), np.uint8)
    photo[:, 3000:] = (200, 30, 30)
    out = decode_image(encode(Image.fromarray(photo), "JPEG", quality=90), (32, 48), 3, max_decoded_bytes=2_000_000)
    assert out.shape == (32, 48, 3)
    assert abs(int(out[16, 40, 0]) - 200) < 12
    assert int(out[16, 5, 0]) < 12
