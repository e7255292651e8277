"""One decode path for training, evaluation and serving: bytes or arrays -> uint8 HxWxC.

Serving imports this module, so a served model sees exactly the pixels training saw.

Memory per image is bounded before any pixel is decoded: the header gives the size and the
mode, so `width x height x bytes per pixel` is checked against `max_decoded_bytes` (a 77 KB
16-bit PNG can declare 6300x6300 = 79 MB of pixels). JPEGs are decoded at reduced scale
(1/2, 1/4, 1/8 in the DCT, Pillow's `draft`) when the target size allows it, so a 24-megapixel
photo costs a few MB, not 72. Conversions work in the narrowest integer type they can.

Only the formats of IMAGE_FORMATS are ever opened, whatever a file or upload is called: Pillow
knows ~40 formats, and some hand the bytes to other programs (EPS/PostScript runs Ghostscript).
"""

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from data.errors import first_line

# The one list of image file types (training folders, batch predict, folder defaults) and the
# Pillow format each suffix stands for; decoding opens these formats and no other.
IMAGE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
IMAGE_SUFFIXES = frozenset(IMAGE_FORMATS)
PILLOW_FORMATS = tuple(dict.fromkeys(IMAGE_FORMATS.values()))
DEFAULT_MAX_PIXELS = 40_000_000
# 48 MiB of decoded pixels per image: 4096x4096 RGB, 5000x5000 16-bit gray. Decoding then
# converting takes ~3x this at the peak (see README, "Serving limits").
DEFAULT_MAX_DECODED_BYTES = 48 * 1024 * 1024


class DecodeError(ValueError):
    """An input that is not a usable image; the message says why, in one line."""


def decode_image(
    data: bytes,
    image_size: tuple[int, int],
    channels: int,
    resize: str = "stretch",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> np.ndarray:
    """Decode encoded image bytes to a uint8 array of shape (height, width, channels)."""
    if not data:
        raise DecodeError("empty file")
    try:
        with open_image(io.BytesIO(data)) as img:
            # Check the header's size before decoding any pixels: a decompression bomb
            # declares a huge canvas in a few bytes.
            if img.width * img.height > max_pixels:
                raise DecodeError(f"image is {img.width}x{img.height}, over the {max_pixels:,}-pixel limit")
            if img.format == "JPEG":
                # Never below the target on either side, whatever the EXIF rotation does later.
                side = max(image_size)
                img.draft("L" if channels == 1 else "RGB", (side, side))
            decoded = decoded_bytes(img)
            if decoded > max_decoded_bytes:
                raise DecodeError(
                    f"image is {img.width}x{img.height} {img.mode} ({decoded:,} bytes decoded), "
                    f"over the {max_decoded_bytes:,}-byte limit per image"
                )
            img.load()
            img = ImageOps.exif_transpose(img)
            pixels = _to_channels(img, channels)
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError(f"not an image ({_format_name(data[:16])})") from None
    except Image.DecompressionBombError as err:
        raise DecodeError(f"image over the pixel limit ({first_line(err, 120)})") from None
    except Exception as err:  # Pillow's plugins raise OSError, SyntaxError, struct.error, ...
        raise DecodeError(_reason(err)) from None
    return resize_array(pixels, image_size, resize)


def open_image(fp) -> Image.Image:
    """Image.open limited to our formats: a file of any other format (named anything) is never parsed."""
    return Image.open(fp, formats=PILLOW_FORMATS)


def _format_name(prefix: bytes) -> str:
    """What a refused file is, from its first bytes alone (Pillow's magic-number checks read no further)."""
    Image.init()
    for name in Image.ID:
        accept = Image.OPEN[name][1]
        if name not in PILLOW_FORMATS and accept is not None and accept(prefix):
            return f"{name} is not accepted; {', '.join(PILLOW_FORMATS)} are"
    return "unrecognized format"


def decoded_bytes(img: Image.Image) -> int:
    """Bytes of pixels Pillow will hold for `img` once loaded, from the header alone."""
    if img.mode.startswith("I;16"):
        per_band = 2
    elif img.mode in ("I", "F"):
        per_band = 4
    else:
        per_band = 1
    return img.width * img.height * len(img.getbands()) * per_band


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if "truncated" in text or "broken data stream" in text or "unexpected end" in text.lower():
        return "truncated image data"
    # Pillow's messages name no paths (we decode bytes); keep them short for logs and HTTP answers.
    return (
        f"not a readable image ({type(err).__name__}: {text[:80]})"
        if text
        else f"not a readable image ({type(err).__name__})"
    )


def _to_channels(img: Image.Image, channels: int) -> np.ndarray:
    """Any PIL mode (16-bit, palette, RGBA, CMYK, ...) -> uint8 array with `channels`."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: rescale by the type's range rather than clipping to 255,
        # which would turn every 16-bit image white.
        wide = np.asarray(img)
        top = 65535 if img.mode.startswith("I;16") or wide.max() <= 65535 else int(wide.max())
        gray = np.empty(wide.shape, dtype=np.uint8)
        # Rescaled in bands of rows: a whole-image float64 copy would cost 4x the decoded size.
        for start in range(0, len(wide), 256):
            rows = np.clip(wide[start : start + 256].astype(np.int64), 0, None)
            gray[start : start + 256] = (rows * 255 + top // 2) // top
        del wide
        img = Image.fromarray(gray, mode="L")
    elif img.mode == "F":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent pixels become white, as viewers show them, not black garbage.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    img = img.convert("L" if channels == 1 else "RGB")
    pixels = np.asarray(img, dtype=np.uint8)
    return pixels[..., None] if channels == 1 else pixels


def resize_array(pixels: np.ndarray, image_size: tuple[int, int], resize: str = "stretch") -> np.ndarray:
    """Resize a uint8 HxWxC array to image_size with the stretch / center_crop / pad policy."""
    height, width = image_size
    if pixels.shape[:2] == (height, width):
        return pixels
    channels = pixels.shape[2]
    img = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    if resize == "center_crop":
        img = ImageOps.fit(img, (width, height), method=Image.Resampling.BILINEAR)
    elif resize == "pad":
        img = ImageOps.pad(img, (width, height), method=Image.Resampling.BILINEAR, color=0)
    elif resize == "stretch":
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    else:
        raise ValueError(f"resize '{resize}' is not one of stretch, center_crop, pad")
    out = np.asarray(img, dtype=np.uint8)
    return out[..., None] if channels == 1 else out


def match_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """Grayscale <-> RGB for arrays that did not come through decode_image."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[2] == channels:
        return pixels
    if channels == 3:
        return np.repeat(pixels[..., :1], 3, axis=2)
    rgb = pixels[..., :3].astype(np.float32)
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(gray + 0.5, 0, 255).astype(np.uint8)[..., None]
