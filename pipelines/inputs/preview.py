"""A PNG grid of a few training images and N augmented versions of each: what the model will see."""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from data.dataset import ImageSet
from pipelines.inputs.augment_pool import augment_batch

MIN_TILE = 128  # px: an 8x8 digit or a 32x32 CIFAR image is upscaled until a person can see it
GAP = 6
HEADER = 26  # the column labels: "original | augmented 1 .. n"
CAPTION = 24  # each row's class and image id


def preview_grid(
    images: ImageSet, class_names: list[str], augmenter, seed: int, originals: int = 4, versions: int = 6
) -> Image.Image:
    """One row per original (the first column, framed), then `versions` augmentations of it.

    Uses the training pipeline's own per-batch seeding, so the grid shows the real stream.
    """
    if len(images) == 0:
        raise ValueError("no images to preview")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=min(originals, len(images)), replace=False)
    height, width = images.images.shape[1:3]
    # Integer upscaling (nearest) keeps pixels square and sharp; large images stay as they are.
    scale = max(1, -(-MIN_TILE // max(height, width)))
    tile_w, tile_h = width * scale, height * scale
    row_h = CAPTION + tile_h + GAP
    grid = Image.new("RGB", (GAP + (versions + 1) * (tile_w + GAP) + GAP, HEADER + len(picks) * row_h + GAP), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=14)
    labels = ["original", *(f"augmented {i}" for i in range(1, versions + 1))]
    for col, label in enumerate(labels):
        x = GAP + col * (tile_w + GAP) + (GAP if col else 0)
        draw.text((x + tile_w / 2, HEADER / 2), label, fill="black", font=font, anchor="mm")
    for row, index in enumerate(picks):
        original = images.images[index]
        batch = np.repeat(original[None], versions, axis=0)
        out = np.empty_like(batch)
        if augmenter is None:
            out[:] = batch
        else:
            augment_batch(augmenter, batch, out, seed, row)
        y = HEADER + row * row_h
        caption = f"{class_names[images.labels[index]]}  ({images.ids[index]})"[:80]
        draw.text((GAP, y + 3), caption, fill="black", font=font)
        for col, pixels in enumerate([original, *out]):
            tile = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert("RGB")
            x = GAP + col * (tile_w + GAP) + (GAP if col else 0)  # a wider gap after the original
            grid.paste(tile.resize((tile_w, tile_h), Image.Resampling.NEAREST), (x, y + CAPTION))
        # Frame the original: the column every other one is compared with.
        draw.rectangle(
            (GAP - 3, y + CAPTION - 3, GAP + tile_w + 2, y + CAPTION + tile_h + 2), outline="#d62728", width=2
        )
    return grid
