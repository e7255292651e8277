"""A PNG grid of a few training images and N augmented versions of each: what the model will see."""

import numpy as np
from PIL import Image, ImageDraw

from data.dataset import ImageSet
from pipelines.inputs.augment_pool import augment_batch


def preview_grid(
    images: ImageSet, class_names: list[str], augmenter, seed: int, originals: int = 4, versions: int = 6
) -> Image.Image:
    """One row per original (the first column), then `versions` augmentations of it.

    Uses the training pipeline's own per-batch seeding, so the grid shows the real stream.
    """
    if len(images) == 0:
        raise ValueError("no images to preview")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=min(originals, len(images)), replace=False)
    height, width = images.images.shape[1:3]
    cell = max(64, height, width)  # small images (digits) are upscaled to be visible
    label_h = 14
    grid = Image.new("RGB", ((versions + 1) * (cell + 4) + 4, len(picks) * (cell + label_h + 4) + 4), "white")
    draw = ImageDraw.Draw(grid)
    for row, index in enumerate(picks):
        original = images.images[index]
        batch = np.repeat(original[None], versions, axis=0)
        out = np.empty_like(batch)
        if augmenter is None:
            out[:] = batch
        else:
            augment_batch(augmenter, batch, out, seed, row)
        y = 4 + row * (cell + label_h + 4)
        draw.text((4, y), f"{class_names[images.labels[index]]}  ({images.ids[index]})"[:60], fill="black")
        for col, pixels in enumerate([original, *out]):
            tile = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert("RGB")
            tile = tile.resize((cell, cell), Image.Resampling.NEAREST)
            grid.paste(tile, (4 + col * (cell + 4), y + label_h))
    return grid
