"""Paper-style FESR figures from SynthFER (never from research face data): Fig. 6 and Fig. 7."""

import pathlib

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.data.preprocessing import from_model_range

SWEEP_INTENSITIES = (0.2, 0.4, 0.6, 0.8, 1.0)


def _to_uint8(images):
    images = np.asarray(images, "float32")
    if images.shape[-1] == 1:
        images = images[..., 0]
    return from_model_range(images)


def image_grid(rows, scale=3, gap=2, row_labels=None, col_labels=None, label_width=70, label_height=14):
    """Tile `rows` (list of lists of `(H, W, C)` images in [-1, 1]) into a PIL image with labels."""
    tile = _to_uint8(rows[0][0])
    h, w = tile.shape[:2]
    h, w = h * scale, w * scale
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    left = label_width if row_labels else 0
    top = label_height if col_labels else 0
    mode = "L" if tile.ndim == 2 else "RGB"
    canvas = Image.new(mode, (left + n_cols * (w + gap), top + n_rows * (h + gap)), color=255)
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        if row_labels:
            draw.text((2, top + r * (h + gap) + h // 2 - 5), str(row_labels[r]), fill=0)
        for c, image in enumerate(row):
            if image is None:
                continue
            pil = Image.fromarray(_to_uint8(image)).resize((w, h), Image.NEAREST)
            canvas.paste(pil, (left + c * (w + gap), top + r * (h + gap)))
    if col_labels:
        for c, label in enumerate(col_labels):
            draw.text((left + c * (w + gap) + 2, 1), str(label), fill=0)
    return canvas


def intensity_sweep_figure(recipe, path, identity, renderer=None, intensities=SWEEP_INTENSITIES, seed=0):
    """Fig. 6 style: for each expression, G_dec([g(x), u]) of a neutral face x at `intensities`
    (u = intensity * (2y - 1)), beside the exact SynthFER renders of that face at the same
    intensities. Returns `{"path", "psnr"}` (mean PSNR of generated vs exact, in dB)."""
    size = int(recipe.decoder.output_shape[1])
    if renderer is None:
        from fer_zoo.data.synthfer import SynthFER

        channels = int(recipe.decoder.output_shape[-1])
        renderer = SynthFER(image_size=max(64, size), channels=channels, seed=seed)

    def fit(images):
        # SynthFER renders >= 48 px; match the model's size as training did (area resize).
        images = np.asarray(images, "float32")
        if images.shape[-2] != size:
            images = tf.image.resize(images, (size, size), method="area").numpy()
        return images

    source = fit(renderer.render(identity=identity, expression="neutral", intensity=1.0, yaw=0.0, pitch=0.0)[None])[0]
    sources = np.repeat(source[None], len(intensities), 0)
    encoding = recipe.encode(sources, training=False)  # g(x) (and the identity path, if any)
    rows, errors = [], []
    k = recipe.num_classes
    for cls in range(k):
        labels = np.full((len(intensities),), cls, "int32")
        code = np.asarray(recipe.intensity_code(labels, intensity=np.asarray(intensities, "float32")))
        generated = np.asarray(recipe.decode(encoding, code, training=False))
        exact = fit(renderer.render_batch(
            identity=[identity] * len(intensities),
            expression=[EXPRESSIONS[cls]] * len(intensities),
            intensity=list(intensities),
            yaw=[0.0] * len(intensities),
            pitch=[0.0] * len(intensities),
        ))
        mse = np.mean(((generated - exact) / 2.0) ** 2, axis=(1, 2, 3))
        errors.extend(10 * np.log10(1.0 / np.maximum(mse, 1e-10)))
        rows.append([source, *generated, None, *exact])
    col_labels = ["input", *[f"G {s:g}" for s in intensities], "", *[f"true {s:g}" for s in intensities]]
    canvas = image_grid(rows, row_labels=list(EXPRESSIONS[:k]), col_labels=col_labels)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return {"path": path, "psnr": float(np.mean(errors))}


def random_faces_figure(recipe, path, n_faces=6, seed=0):
    """Fig. 7 style: faces decoded from `n_faces` random z ~ U(-1, 1)^n (rows), each shown with
    every expression at full intensity (columns): new identities from the prior."""
    rng = np.random.default_rng(seed)
    latent = rng.uniform(-1, 1, (n_faces, recipe.latent_dim)).astype("float32")
    k = recipe.num_classes
    rows = []
    for z in latent:
        labels = np.arange(k, dtype="int32")
        # G_dec([z, u(y)]) (raises for a G_dec with an identity path: it has no prior path).
        rows.append(list(np.asarray(recipe.synthesize_from_prior(np.repeat(z[None], k, 0), labels, intensity=1.0))))
    canvas = image_grid(rows, row_labels=[f"z{i}" for i in range(n_faces)], col_labels=list(EXPRESSIONS[:k]))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
