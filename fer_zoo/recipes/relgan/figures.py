"""REL-GAN figures drawn with Pillow: the Fig. 3-style reenactment grid and a probe bar chart."""

import pathlib

import numpy as np
from PIL import Image, ImageDraw

from fer_zoo.data.preprocessing import from_model_range


def to_uint8(images):
    """[-1, 1] float images `(..., H, W, C)` -> uint8 `(..., H, W)` (grey) or `(..., H, W, 3)`."""
    images = from_model_range(images)
    return images[..., 0] if images.shape[-1] == 1 else images


def _tile(image, scale):
    pil = Image.fromarray(to_uint8(image))
    if scale != 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    return pil.convert("RGB")


def reenactment_grid(sources, targets, generated, truths, path, scale=3, title=None, row_labels=None):
    """Fig. 3-style grid: targets across the top, sources down the left; each cell shows the
    generated x̄ (source's expression on the target's identity) and, right of it, the exact
    render x_tg of the same face.

    Args:
        sources: `(S, H, W, C)` source images (expression donors).
        targets: `(T, H, W, C)` target images (identity donors).
        generated: `(S, T, H, W, C)` REL-GAN outputs.
        truths: `(S, T, H, W, C)` exact renders (ground truth).
        path: PNG to write.
        scale: nearest-neighbour up-scaling of every tile.
        title: optional caption line.
        row_labels: optional text per source row (e.g. expression names).

    Returns:
        The path written.
    """
    sources, targets = np.asarray(sources), np.asarray(targets)
    generated, truths = np.asarray(generated), np.asarray(truths)
    n_s, n_t = len(sources), len(targets)
    if generated.shape[:2] != (n_s, n_t) or truths.shape[:2] != (n_s, n_t):
        raise ValueError(
            f"generated {generated.shape[:2]} and truths {truths.shape[:2]} must be "
            f"(sources, targets) = {(n_s, n_t)}."
        )
    tile = sources.shape[1] * scale
    gap, header, label_w = 4, 18 + (14 if title else 0), 60 if row_labels else 0
    cell_w = 2 * tile + gap
    width = label_w + tile + 3 * gap + n_t * (cell_w + 2 * gap)
    height = header + tile + 14 + n_s * (tile + gap) + gap
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 2), title, fill="black")
    top = header
    draw.text((label_w + 2, top - 14), "rows: source (expression) / columns: target (identity)", fill="black")
    for j in range(n_t):
        x = label_w + tile + 3 * gap + j * (cell_w + 2 * gap)
        canvas.paste(_tile(targets[j], scale), (x + tile // 2, top))
        draw.text((x, top + tile + 1), "REL-GAN | exact render", fill="black")
    y0 = top + tile + 14
    for i in range(n_s):
        y = y0 + i * (tile + gap)
        if row_labels:
            draw.text((2, y + tile // 2 - 6), str(row_labels[i]), fill="black")
        canvas.paste(_tile(sources[i], scale), (label_w, y))
        for j in range(n_t):
            x = label_w + tile + 3 * gap + j * (cell_w + 2 * gap)
            canvas.paste(_tile(generated[i, j], scale), (x, y))
            canvas.paste(_tile(truths[i, j], scale), (x + tile + gap, y))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return str(path)


def probe_chart(results, path, title="Linear probes on held-out identities"):
    """Horizontal bars of probe accuracies with their chance levels (dashed marks).

    Args:
        results: dict `name -> {"accuracy": float, "chance": float}`.
        path: PNG to write.
    """
    names = list(results)
    bar_w, row_h, left, top = 300, 26, 210, 26
    canvas = Image.new("RGB", (left + bar_w + 70, top + row_h * len(names) + 24), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), title, fill="black")
    for k, name in enumerate(names):
        acc, chance = results[name]["accuracy"], results[name]["chance"]
        y = top + k * row_h
        draw.text((4, y + 6), name, fill="black")
        draw.rectangle([left, y + 4, left + int(bar_w * acc), y + row_h - 6], fill=(70, 110, 180))
        cx = left + int(bar_w * chance)
        for yy in range(y + 1, y + row_h - 2, 4):
            draw.line([cx, yy, cx, yy + 2], fill=(200, 40, 40), width=2)
        draw.text((left + bar_w + 6, y + 6), f"{acc:.2f}", fill="black")
    draw.text((4, top + row_h * len(names) + 6), "red dashes: chance", fill=(200, 40, 40))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return str(path)
