"""JPEM figures and SynthFER evidence: the Fig. 6 expression x pose grid, per-pose accuracy bars.

Only SynthFER faces or plots are drawn here (never faces of licensed data sets such as KDEF).
Drawing uses Pillow (no matplotlib dependency).
"""

import json
import pathlib
import time

import keras
import numpy as np
from PIL import Image, ImageDraw

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.data.preprocessing import from_model_range

PINK, ORANGE, GREEN = (240, 120, 170), (245, 150, 40), (60, 170, 80)
SHORT = {"angry": "AN", "disgust": "DI", "fear": "FE", "happy": "HA", "neutral": "NE", "sad": "SA", "surprise": "SU"}


def to_pixels(image, scale=3):
    """A [-1, 1] `(H, W, C)` face as an upscaled RGB PIL image."""
    arr = from_model_range(image)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    img = Image.fromarray(arr)
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def cell_metrics(generated, truth):
    """Per-face L1 (mean |difference|, in [-1, 1] units) and SSIM (`tf.image.ssim`, max_val 2)."""
    import tensorflow as tf

    generated = np.asarray(generated, np.float32)
    truth = np.asarray(truth, np.float32)
    l1 = np.abs(generated - truth).mean(axis=(1, 2, 3))
    size = generated.shape[1]
    ssim = tf.image.ssim(generated, truth, max_val=2.0, filter_size=min(11, size)).numpy()
    return l1, ssim


def expression_pose_grid(path, input_image, generated, truth, expression_names, pose_names, l1=None, ssim=None, scale=3,
                         truth_title="exact SynthFER render"):
    """Fig. 6 layout: input (pink), generated grid (orange), ground truth (green).

    `generated` and `truth` are `(P, E, H, W, C)`: rows are poses, columns expressions. With
    `l1` / `ssim` `(P, E)` each generated cell is captioned with its scores (NaN: no truth, left
    blank). `truth_title` heads the ground-truth block (e.g. "real KDEF photo").
    """
    p_count, e_count = generated.shape[:2]
    cell = generated.shape[2] * scale
    pad, caption, label_w, header = 4, 12, 30, 14
    block_w = e_count * (cell + pad) + pad
    width = pad + cell + 3 * pad + label_w + block_w + 3 * pad + block_w + pad
    height = header + p_count * (cell + caption + pad) + pad + 14
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    top = header
    # Input face.
    canvas.paste(to_pixels(input_image, scale), (pad, top))
    draw.rectangle([pad - 2, top - 2, pad + cell + 1, top + cell + 1], outline=PINK, width=2)
    draw.text((pad, top + cell + 3), "input", fill="black")
    x_gen = pad + cell + 3 * pad + label_w
    x_true = x_gen + block_w + 3 * pad
    for x0, title, colour in ((x_gen, "generated", ORANGE), (x_true, truth_title, GREEN)):
        draw.text((x0, 1), title, fill=colour)
        draw.rectangle([x0 - 2, top - 2, x0 + block_w - pad + 1, top + p_count * (cell + caption + pad) - pad], outline=colour, width=2)
    for r in range(p_count):
        y = top + r * (cell + caption + pad)
        draw.text((x_gen - label_w, y + cell // 2 - 5), str(pose_names[r]), fill="black")
        for c in range(e_count):
            xg = x_gen + c * (cell + pad)
            canvas.paste(to_pixels(generated[r, c], scale), (xg, y))
            canvas.paste(to_pixels(truth[r, c], scale), (x_true + c * (cell + pad), y))
            if l1 is not None and np.isfinite(l1[r, c]):
                draw.text((xg, y + cell), f"{l1[r, c]:.2f}/{ssim[r, c]:.2f}", fill="black")
    for c in range(e_count):
        name = SHORT.get(expression_names[c], expression_names[c][:2])
        for x0 in (x_gen, x_true):
            draw.text((x0 + c * (cell + pad) + cell // 2 - 6, height - 13), name, fill="black")
    draw.text((pad, height - 13), "L1/SSIM", fill="black")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return str(path)


def accuracy_bars(path, series, title="accuracy per pose", width=520, height=260):
    """Grouped bar chart: `series = {"0N": {pose: acc, ...}, "5N": {...}}` (accuracies in [0, 1])."""
    colours = [(120, 120, 120), (245, 150, 40), (60, 120, 200), (60, 170, 80), (200, 60, 60)]
    names = list(series)
    poses = list(next(iter(series.values())))
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    left, bottom, top = 36, height - 30, 24
    draw.text((left, 4), title, fill="black")
    draw.line([left, top, left, bottom], fill="black")
    draw.line([left, bottom, width - 8, bottom], fill="black")
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - t * (bottom - top)
        draw.text((4, y - 5), f"{t:.2f}", fill="black")
        draw.line([left, y, width - 8, y], fill=(225, 225, 225))
    group_w = (width - left - 16) / len(poses)
    bar_w = group_w * 0.8 / len(names)
    for g, pose in enumerate(poses):
        x0 = left + 8 + g * group_w
        for i, name in enumerate(names):
            acc = series[name].get(pose, 0.0)
            x = x0 + i * bar_w
            draw.rectangle([x, bottom - acc * (bottom - top), x + bar_w - 2, bottom], fill=colours[i % len(colours)])
        draw.text((x0 + group_w * 0.3, bottom + 4), str(pose), fill="black")
    for i, name in enumerate(names):
        draw.rectangle([width - 90, top + 4 + i * 14, width - 80, top + 14 + i * 14], fill=colours[i % len(colours)])
        draw.text((width - 76, top + 3 + i * 14), name, fill="black")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return str(path)


def render_targets(identity, expressions, yaws, image_size, channels=1, seed=0):
    """Exact SynthFER renders `(P, E, H, W, C)` of `identity` at every pose x expression."""
    from fer_zoo.data.synthfer import SynthFER
    from fer_zoo.recipes.jpem.train import fit_faces

    renderer = SynthFER(image_size=max(48, image_size), channels=channels, seed=seed)
    faces = renderer.faceset(identities=[identity], expressions=expressions, yaws=yaws)
    faces = fit_faces(faces, image_size, channels)
    by = {(int(e), float(y)): img for e, y, img in zip(faces.labels["expression"], faces.labels["yaw"], faces.images)}
    return np.stack([np.stack([by[(int(e), float(y))] for e in expressions]) for y in yaws])


def generate_grid(generator, image, num_expressions, num_poses):
    """The generator's `(P, E, H, W, C)` grid for one input face."""
    e = np.tile(np.arange(num_expressions), num_poses)
    p = np.repeat(np.arange(num_poses), num_expressions)
    x = np.repeat(np.asarray(image, np.float32)[None], len(e), axis=0)
    out = generator.predict_on_batch(
        [x, np.eye(num_expressions, dtype="float32")[e], np.eye(num_poses, dtype="float32")[p]]
    )
    return np.asarray(out).reshape((num_poses, num_expressions) + x.shape[1:])


def grid_evidence(generator, identities, yaws, image_size, channels=1, seed=0, input_expression=4, input_pose=None):
    """Per-cell L1/SSIM of generated vs exact renders for each identity's single input face.

    The input is the identity's `input_expression` (default neutral) face at `input_pose`
    (default: the middle pose). Also returns the "copy the input" baseline scores.
    """
    expressions = list(range(len(EXPRESSIONS)))
    input_pose = len(yaws) // 2 if input_pose is None else input_pose
    grids = []
    for identity in identities:
        truth = render_targets(identity, expressions, yaws, image_size, channels, seed)
        inp = truth[input_pose, input_expression]
        generated = generate_grid(generator, inp, len(expressions), len(yaws))
        flat_g = generated.reshape((-1,) + generated.shape[2:])
        flat_t = truth.reshape((-1,) + truth.shape[2:])
        l1, ssim = cell_metrics(flat_g, flat_t)
        copy_l1, copy_ssim = cell_metrics(np.repeat(inp[None], len(flat_t), 0), flat_t)
        shape = generated.shape[:2]
        grids.append({
            "identity": int(identity), "input": inp, "generated": generated, "truth": truth,
            "l1": l1.reshape(shape), "ssim": ssim.reshape(shape),
            "copy_l1": copy_l1.reshape(shape), "copy_ssim": copy_ssim.reshape(shape),
        })
    return grids


def identity_probe(grids, held_out, epochs=40, seed=0):
    """Identity preservation: an identity classifier trained on the exact renders of every
    identity in `grids` (all expressions x poses) labels the generated faces.

    Returns the share of generated faces given their input's identity, separately for the
    `held_out` identities (never seen by the GAN) and the others (chance = 1 / len(grids)).
    """
    keras.utils.set_random_seed(seed)
    per_grid = grids[0]["truth"].shape[0] * grids[0]["truth"].shape[1]
    real = np.concatenate([g["truth"].reshape((-1,) + g["truth"].shape[2:]) for g in grids])
    labels = np.repeat(np.arange(len(grids)), per_grid)
    fake = np.concatenate([g["generated"].reshape((-1,) + g["generated"].shape[2:]) for g in grids])
    probe = keras.Sequential([
        keras.Input(real.shape[1:]),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(len(grids), activation="softmax"),
    ])
    probe.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    probe.fit(real, labels, epochs=epochs, batch_size=32, verbose=0)
    real_ok = probe.predict(real, verbose=0).argmax(-1) == labels
    fake_ok = probe.predict(fake, verbose=0).argmax(-1) == labels
    held = np.repeat(np.isin([g["identity"] for g in grids], list(held_out)), per_grid)
    return {
        "probe_accuracy_on_renders": float(real_ok.mean()),
        "identity_kept_held_out": float(fake_ok[held].mean()) if held.any() else None,
        "identity_kept_training_identities": float(fake_ok[~held].mean()) if (~held).any() else None,
        "identities": len(grids),
        "chance": 1.0 / len(grids),
    }


def summarise_grids(grids):
    keys = ("l1", "ssim", "copy_l1", "copy_ssim")
    mean = {k: np.mean([g[k] for g in grids], axis=0) for k in keys}
    return {
        "identities": [g["identity"] for g in grids],
        "mean_l1": float(mean["l1"].mean()), "mean_ssim": float(mean["ssim"].mean()),
        "copy_input_l1": float(mean["copy_l1"].mean()), "copy_input_ssim": float(mean["copy_ssim"].mean()),
        "l1_pose_x_expression": np.round(mean["l1"], 3).tolist(),
        "ssim_pose_x_expression": np.round(mean["ssim"], 3).tolist(),
    }


def synthfer_demo(out_dir="runs/jpem_demo", identities=12, gan_epochs=25, yaws=(-30.0, 0.0, 30.0), seed=0):
    """A short CPU run on SynthFER: trains the GAN stage (no classifier stages) and writes the
    Fig. 6-style grid for an unseen identity with per-cell L1/SSIM against the exact renders.

    Returns:
        dict with `figure` (PNG path), `metrics` (grid L1/SSIM, copy-input baseline, GAN losses)
        and `summary` (the `train` summary).
    """
    from fer_zoo.recipes.jpem.train import train

    started = time.time()
    out_dir = pathlib.Path(out_dir)
    summary = train(
        "synthetic", out_dir=out_dir / "run", config="small", generated_ratio=[], gan_epochs=gan_epochs,
        synthetic={"identities": identities, "yaws": tuple(yaws), "seed": seed}, verbose=0, seed=seed,
    )
    generator = keras.saving.load_model(summary["artifacts"]["generator"], safe_mode=True)
    test_ids = summary["test_identities"]
    grids = grid_evidence(generator, test_ids, list(yaws), image_size=summary["config"]["image_size"], seed=seed)
    g = grids[0]
    figure = expression_pose_grid(
        out_dir / "jpem_synthfer_grid.png", g["input"], g["generated"], g["truth"], EXPRESSIONS,
        [f"{y:g}" for y in yaws], g["l1"], g["ssim"],
    )
    metrics = {**summarise_grids(grids), "gan": summary["metrics"]["gan"], "seconds": time.time() - started}
    (out_dir / "demo_metrics.json").write_text(json.dumps(metrics, indent=2))
    return {"figure": figure, "metrics": metrics, "summary": summary}


def synthfer_evidence(
    run_dir, figure_dir, identities=12, gan_epochs=25, classifier_epochs=6, yaws=(-30.0, 0.0, 30.0),
    ratios=(0, 5), seed=0, prefix="jpem_synthfer",
):
    """The SynthFER evidence of docs/jpem.md: expression x pose grid vs exact renders (per-cell
    L1/SSIM, copy-the-input baseline), identity probe, and C_exp accuracy per pose for each
    generated-data ratio. Reuses the GAN stage of `synthfer_demo` when `run_dir` is its run.

    Returns:
        dict of metrics and figure paths (also written to `run_dir/evidence.json`).
    """
    from fer_zoo.recipes.jpem.train import train

    figure_dir = pathlib.Path(figure_dir)
    summary = train(
        "synthetic", out_dir=run_dir, config="small", generated_ratio=list(ratios), gan_epochs=gan_epochs,
        classifier_epochs=classifier_epochs, synthetic={"identities": identities, "yaws": tuple(yaws), "seed": seed},
        verbose=0, seed=seed,
    )
    generator = keras.saving.load_model(summary["artifacts"]["generator"], safe_mode=True)
    test_ids = summary["test_identities"]
    grids = grid_evidence(generator, list(range(identities)), list(yaws), summary["config"]["image_size"], seed=seed)
    held = [g for g in grids if g["identity"] in test_ids]
    seen = [g for g in grids if g["identity"] not in test_ids]
    pose_names = [f"{y:g}" for y in yaws]
    figures = {}
    for tag, group in (("heldout", held), ("train", seen)):
        g = group[0]
        figures[f"grid_{tag}"] = expression_pose_grid(
            figure_dir / f"{prefix}_grid_{tag}.png", g["input"], g["generated"], g["truth"], EXPRESSIONS, pose_names,
            g["l1"], g["ssim"],
        )
    series = {name: res["per_pose"] for name, res in summary["metrics"]["classifier"].items()}
    figures["accuracy"] = accuracy_bars(
        figure_dir / f"{prefix}_accuracy_per_pose.png", series, "SynthFER: C_exp accuracy per yaw (held-out identities)"
    )
    evidence = {
        "held_out_identities": test_ids,
        "grid_held_out": summarise_grids(held),
        "grid_training_identities": summarise_grids(seen),
        "identity_probe": identity_probe(grids, test_ids, seed=seed),
        "classifier": {
            name: {k: res[k] for k in ("accuracy", "per_pose", "epochs", "steps", "epoch_counts")}
            for name, res in summary["metrics"]["classifier"].items()
        },
        "joint_classifier": {k: summary["metrics"]["joint_classifier"][k] for k in ("accuracy", "per_pose")},
        "gan": summary["metrics"]["gan"],
        "figures": figures,
    }
    pathlib.Path(run_dir, "evidence.json").write_text(json.dumps(evidence, indent=2))
    return evidence
