"""GASCA figures with Pillow only: the Fig. 3-style reconstruction strip, error-per-yaw bar plots
and confusion matrices."""

import pathlib

import numpy as np
from PIL import Image, ImageDraw

from fer_zoo.data.preprocessing import from_model_range

FIG3_YAWS = (60, 45, 30, 15, 0)


def _to_uint8(image):
    image = np.asarray(image, np.float32)
    if image.shape[-1] == 1:
        image = image[..., 0]
    return from_model_range(image)


def image_grid(rows, scale=3, pad=2, labels=None):
    """Tile a list of rows of `[-1, 1]` images into one PIL image (optional row labels)."""
    height, width = np.asarray(rows[0][0]).shape[:2]
    label_w = 70 if labels else 0
    cols = max(len(r) for r in rows)
    canvas = Image.new("RGB", (label_w + cols * (width * scale + pad) + pad, len(rows) * (height * scale + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        y = pad + r * (height * scale + pad)
        if labels:
            draw.text((4, y + height * scale // 2 - 5), labels[r], fill="black")
        for c, image in enumerate(row):
            tile = Image.fromarray(_to_uint8(image)).convert("RGB").resize((width * scale, height * scale), Image.NEAREST)
            canvas.paste(tile, (label_w + pad + c * (width * scale + pad), y))
    return canvas


def figure3(generator, path, cfg, identity=1000, expression="happy", harsh=True, seed=7):
    """Fig. 3 of the paper on SynthFER: inputs at +60, +45, +30, +15, 0 degrees (top; harsh
    light for GASCA2), their reconstructions (middle) and the exact frontal, evenly lit
    target (bottom). `identity` defaults to one never used in training.

    Args:
        generator: the normaliser (a Keras model, `[-1, 1]` faces in and out).
        path: PNG to write.
        cfg: the GASCA config the generator was trained with (SynthFER renderer and image size).
        identity: SynthFER identity (of the config's seed) to render.
        expression: an expression name, or a sequence of them: one block of three rows each.
        harsh: a random harsh light per input (one per column, drawn from `seed`), else even light.
        seed: seed of the lights.
    """
    from fer_zoo.data.synthfer import EVEN_LIGHT
    from fer_zoo.recipes.gasca.train import _resize, synthfer_renderer

    expressions = [expression] if isinstance(expression, str) else list(expression)
    size = cfg["model"]["image_size"]
    renderer = synthfer_renderer(cfg)
    n = len(FIG3_YAWS)
    rows, labels = [], []
    for name in expressions:
        rng = np.random.default_rng(seed)  # the same lights for every expression
        lights = [renderer.sample_light(rng, harsh=True) if harsh else EVEN_LIGHT for _ in range(n)]
        inputs = renderer.render_batch(identity=[identity] * n, expression=[name] * n, intensity=[1.0] * n,
                                       yaw=list(map(float, FIG3_YAWS)), pitch=[0.0] * n, light=lights)
        target = renderer.render(identity=identity, expression=name, intensity=1.0, yaw=0.0, pitch=0.0,
                                 light=EVEN_LIGHT)
        inputs, target = _resize(inputs, size), _resize(target[None], size)[0]
        outputs = np.asarray(generator(inputs.astype(np.float32), training=False))
        rows += [list(inputs), list(outputs), [target] * n]
        prefix = f"{name} " if len(expressions) > 1 else ""
        labels += [f"{prefix}input", "GASCA", "target"]
    canvas = image_grid(rows, labels=labels)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def bar_plot(series, path, title, y_max=None, width=520, height=300):
    """Grouped bars: `series` = {name: {x_label: value}} (same x labels). Values written on top."""
    names = list(series)
    xs = list(next(iter(series.values())).keys())
    values = np.asarray([[series[n].get(x, np.nan) for x in xs] for n in names], float)
    y_max = y_max or float(np.nanmax(values)) * 1.15 or 1.0
    colours = [(52, 101, 164), (204, 0, 0), (115, 210, 22), (237, 212, 0)]
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, bottom, top = 40, height - 40, 30
    draw.text((left, 8), title, fill="black")
    draw.line((left, top, left, bottom), fill="black")
    draw.line((left, bottom, width - 10, bottom), fill="black")
    group_w = (width - left - 20) / len(xs)
    bar_w = group_w * 0.8 / len(names)
    for i, x in enumerate(xs):
        gx = left + 10 + i * group_w
        draw.text((gx + group_w * 0.3, bottom + 5), str(x), fill="black")
        for j in range(len(names)):
            v = values[j, i]
            if np.isnan(v):
                continue
            h = (bottom - top) * min(v / y_max, 1.0)
            x0 = gx + j * bar_w
            draw.rectangle((x0, bottom - h, x0 + bar_w - 2, bottom), fill=colours[j % len(colours)])
            draw.text((x0, bottom - h - 11), f"{v:.2f}", fill="black")
    for j, n in enumerate(names):
        draw.rectangle((width - 170, 8 + j * 12, width - 162, 16 + j * 12), fill=colours[j % len(colours)])
        draw.text((width - 158, 6 + j * 12), n, fill="black")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def confusion_plot(confusion, class_names, path, title="confusion (row-normalised %)", cell=56):
    """Row-normalised confusion matrix as a shaded grid with percentages (rows = truth)."""
    confusion = np.asarray(confusion, float)
    rates = confusion / np.maximum(confusion.sum(1, keepdims=True), 1) * 100
    n = len(class_names)
    left, top = 70, 40
    image = Image.new("RGB", (left + n * cell + 10, top + n * cell + 30), "white")
    draw = ImageDraw.Draw(image)
    draw.text((4, 6), title, fill="black")
    for i in range(n):
        draw.text((4, top + i * cell + cell // 2 - 5), class_names[i][:8], fill="black")
        draw.text((left + i * cell + 4, top + n * cell + 8), class_names[i][:7], fill="black")
        for j in range(n):
            shade = int(255 - rates[i, j] * 2.0)
            draw.rectangle((left + j * cell, top + i * cell, left + (j + 1) * cell - 1, top + (i + 1) * cell - 1),
                           fill=(shade, shade, 255))
            draw.text((left + j * cell + 10, top + i * cell + cell // 2 - 5), f"{rates[i, j]:.0f}",
                      fill="white" if rates[i, j] > 60 else "black")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def main(argv=None):
    """`python -m fer_zoo.recipes.gasca.figures --preset gasca2-normalizer-synthfer --out F.png`:
    Fig. 3 of a shipped (or any) 64 px SynthFER normaliser on an identity it never saw."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--preset", default="gasca2-normalizer-synthfer", help="zoo preset of the normaliser")
    parser.add_argument("--weights", help="weights file instead of the preset's own")
    parser.add_argument("--config", default="synthfer64", help="GASCA config it was trained with")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--identity", type=int, default=1000)
    parser.add_argument("--expressions", nargs="+", default=["happy", "sad", "surprise"])
    parser.add_argument("--light", choices=("harsh", "even"), default="harsh")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from fer_zoo.recipes.gasca.train import resolve_config
    from fer_zoo.zoo.loading import load

    generator = load(args.preset, **({"weights": args.weights} if args.weights else {}))
    path = figure3(generator, args.out, resolve_config(args.config), identity=args.identity,
                   expression=args.expressions, harsh=args.light == "harsh", seed=args.seed)
    print(path)


if __name__ == "__main__":
    main()
