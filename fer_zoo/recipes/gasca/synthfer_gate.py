"""Gate of the GASCA2 SynthFER normaliser (`gasca2-normalizer-synthfer`).

Held-out faces: identities `0..identities-1` of *another* SynthFER seed (`--heldout-seed`,
never used in training), the 7 expressions at intensity 1.0, yaws 0 / +-30 / +-45, each under
`EVEN_LIGHT` and under one harsh side light (`SynthFER.sample_light(harsh=True)`, drawn per
face from `(heldout_seed, 0x6A7E)`). Target: the exact frontal, evenly lit render of the same
identity, expression and intensity.

Measured for G(x) and two baselines:

* **copy input**: the input itself as the "normalised" face;
* **mean face**: the training set's mean frontal even-light face of the input's expression
  (the mean over the training identities of the exact targets; it knows the expression label,
  so its judge accuracy is an upper bound, not a competitor).

Metrics: SSIM to the target (Gaussian window 11 / sigma 1.5, K1 0.01, K2 0.03, on the images
mapped from [-1, 1] to [0, 1]), per-pixel mean L1 (in [-1, 1] units), and the accuracy of the
expression judge (`fer_zoo.evaluation.judge`, trained only on exact SynthFER renders of other
identities) at telling the *input's* expression from the image. Gate (project issue): mean SSIM
>= 0.75 and judge accuracy >= 90 % on G(x) over all held-out inputs; the table also gives every
yaw x light cell.

```
python -m fer_zoo.recipes.gasca.synthfer_gate --normalizer RUN/normalizer.weights.h5 --judge /tmp/judge --out DIR
```
Writes `DIR/gate.json`, `DIR/gate.md` (the table) and `DIR/gate_examples.png` (rows: held-out
inputs at each yaw / light; columns: input, G(x), exact target for a few identities /
expressions).
"""

import argparse
import json
import pathlib

import numpy as np

GATE_YAWS = (0, -30, 30, -45, 45)
LIGHTS = ("even", "harsh")
SSIM_GATE = 0.75
JUDGE_GATE = 0.90


def ssim(a, b, batch_size=512):
    """Per-image SSIM of `[-1, 1]` images, computed on them mapped to [0, 1] (`tf.image.ssim`,
    max_val 1, Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03). The mapping matters: SSIM's
    luminance term `(2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1)` is not shift-invariant and goes
    negative when the means have opposite signs, which [-1, 1] values allow."""
    import tensorflow as tf

    a, b = (np.asarray(v, np.float32) * 0.5 + 0.5 for v in (a, b))
    return np.concatenate([tf.image.ssim(a[i:i + batch_size], b[i:i + batch_size], max_val=1.0).numpy()
                           for i in range(0, len(a), batch_size)])


def normalizer_config(weights, config="synthfer64"):
    """Builder arguments of a normaliser: `normalizer.json` / `summary.json` next to the weights,
    else `CONFIGS[config]["model"]`; and the run summary (or None)."""
    from fer_zoo.recipes.gasca.train import resolve_config

    folder = pathlib.Path(weights).parent
    summary = json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").exists() else None
    if (folder / "normalizer.json").exists():
        model = json.loads((folder / "normalizer.json").read_text())["config"]
    elif summary is not None:
        model = summary["config"]["model"]
    else:
        model = resolve_config(config)["model"]
    return model, summary


def heldout_set(seed=1, identities=20, image_size=64, channels=1, yaws=GATE_YAWS, intensity=1.0):
    """`(inputs, targets, labels)`: every identity x expression x yaw x {even, harsh} input and
    its exact frontal even-light target, at `image_size`."""
    from fer_zoo.data.synthfer import EVEN_LIGHT, EXPRESSIONS, SynthFER
    from fer_zoo.recipes.gasca.train import _resize

    renderer = SynthFER(image_size=max(48, image_size), channels=channels, seed=seed)
    rng = np.random.default_rng([seed, 0x6A7E])
    rows = {k: [] for k in ("identity", "expression", "yaw", "light")}
    lights = []
    for ident in range(identities):
        for expr in range(len(EXPRESSIONS)):
            for yaw in yaws:
                for light in LIGHTS:
                    lights.append(EVEN_LIGHT if light == "even" else renderer.sample_light(rng, harsh=True))
                    for key, value in zip(rows, (ident, expr, float(yaw), light)):
                        rows[key].append(value)
    inputs = renderer.render_batch(rows["identity"], rows["expression"], intensity, rows["yaw"], 0.0, lights)
    frontal = renderer.render_batch([i for i in range(identities) for _ in EXPRESSIONS],
                                    [e for _ in range(identities) for e in range(len(EXPRESSIONS))], intensity, 0.0, 0.0,
                                    EVEN_LIGHT)
    labels = {k: np.asarray(v) for k, v in rows.items()}
    targets = frontal[labels["identity"] * len(EXPRESSIONS) + labels["expression"]]
    size = (image_size, image_size)
    return _resize(inputs, size), _resize(targets, size), labels


def mean_faces(seed=0, identities=range(200), image_size=64, channels=1, intensity=1.0):
    """`(7, H, W, C)`: per expression, the mean over the training identities of their exact
    frontal even-light renders (the "mean face for that target" baseline)."""
    from fer_zoo.data.synthfer import EVEN_LIGHT, EXPRESSIONS, SynthFER
    from fer_zoo.recipes.gasca.train import _resize

    renderer = SynthFER(image_size=max(48, image_size), channels=channels, seed=seed)
    ids = list(identities)
    faces = renderer.render_batch([i for i in ids for _ in EXPRESSIONS], [e for _ in ids for e in range(len(EXPRESSIONS))],
                                  intensity, 0.0, 0.0, EVEN_LIGHT)
    faces = _resize(faces, (image_size, image_size)).reshape(len(ids), len(EXPRESSIONS), image_size, image_size, channels)
    return faces.mean(0)


def _cells(values, labels):
    out = {}
    for light in LIGHTS:
        for yaw in sorted(set(labels["yaw"].tolist()), key=lambda y: (abs(y), y)):
            mask = (labels["light"] == light) & (labels["yaw"] == yaw)
            out[f"{light} {int(yaw):+d}"] = float(np.mean(values[mask]))
    return out


def evaluate(generator, judge, inputs, targets, labels, means, batch_size=256):
    """Gate metrics of G and the two baselines: overall, per yaw x light cell, per expression."""
    from fer_zoo.data.faceset import EXPRESSIONS
    from fer_zoo.evaluation.aggregate import confusion_matrix
    from fer_zoo.recipes.gasca.train import _predict

    candidates = {
        "G(x)": _predict(generator, inputs, batch_size),
        "copy input": inputs,
        "mean face": means[labels["expression"]],
    }
    results = {}
    for name, images in candidates.items():
        s = ssim(images, targets)
        l1 = np.abs(images - targets).reshape(len(images), -1).mean(1)
        predicted = judge.predict(images)
        correct = (predicted == labels["expression"]).astype(np.float32)
        results[name] = {
            "ssim": float(s.mean()), "l1": float(l1.mean()), "judge_accuracy": float(correct.mean()),
            "ssim_by_cell": _cells(s, labels), "judge_by_cell": _cells(correct, labels), "l1_by_cell": _cells(l1, labels),
            "judge_by_expression": {EXPRESSIONS[e]: float(correct[labels["expression"] == e].mean())
                                    for e in range(len(EXPRESSIONS))},
            # Rows: the input's expression, columns: the judge's reading (which expression G's
            # output is mistaken for, e.g. a softened neutral face read as disgust).
            "judge_confusion": confusion_matrix(labels["expression"], predicted, len(EXPRESSIONS)).tolist(),
            "output_std_across_inputs": float(np.asarray(images).std(0).mean()),
        }
    results["target_std_across_inputs"] = float(targets.std(0).mean())
    results["judge_on_targets"] = float((judge.predict(targets) == labels["expression"]).mean())
    g = results["G(x)"]
    results["gate"] = {"ssim": g["ssim"] >= SSIM_GATE, "judge": g["judge_accuracy"] >= JUDGE_GATE,
                       "passed": g["ssim"] >= SSIM_GATE and g["judge_accuracy"] >= JUDGE_GATE,
                       "thresholds": {"ssim": SSIM_GATE, "judge_accuracy": JUDGE_GATE},
                       "worst_cell_ssim": min(g["ssim_by_cell"].values()),
                       "worst_cell_judge": min(g["judge_by_cell"].values())}
    return results, candidates["G(x)"]


def table(results):
    """The gate table (markdown): SSIM / judge accuracy per yaw x light cell for G(x) and the
    two baselines, and the overall row."""
    names = ("G(x)", "copy input", "mean face")
    cells = list(results["G(x)"]["ssim_by_cell"])
    lines = ["| input (light yaw) | " + " | ".join(f"SSIM {n}" for n in names) + " | "
             + " | ".join(f"judge {n}" for n in names) + " |",
             "|---" * (1 + 2 * len(names)) + "|"]
    for cell in cells:
        lines.append(f"| {cell} | " + " | ".join(f"{results[n]['ssim_by_cell'][cell]:.3f}" for n in names) + " | "
                     + " | ".join(f"{100 * results[n]['judge_by_cell'][cell]:.1f}" for n in names) + " |")
    lines.append("| **all** | " + " | ".join(f"**{results[n]['ssim']:.3f}**" for n in names) + " | "
                 + " | ".join(f"**{100 * results[n]['judge_accuracy']:.1f}**" for n in names) + " |")
    gate = results["gate"]
    lines.append("")
    lines.append(f"Gate (SSIM >= {SSIM_GATE}, judge >= {100 * JUDGE_GATE:.0f} % on G(x)): "
                 f"{'PASSED' if gate['passed'] else 'FAILED'} (SSIM {results['G(x)']['ssim']:.3f}, judge "
                 f"{100 * results['G(x)']['judge_accuracy']:.1f} %; worst cell SSIM {gate['worst_cell_ssim']:.3f}, "
                 f"judge {100 * gate['worst_cell_judge']:.1f} %). Judge on the exact targets: "
                 f"{100 * results['judge_on_targets']:.1f} %. Output std across inputs: G {results['G(x)']['output_std_across_inputs']:.3f}, "
                 f"targets {results['target_std_across_inputs']:.3f}.")
    lines.append("")
    lines.append("Judge on G(x) per input expression: " + ", ".join(
        f"{name} {100 * value:.1f} %" for name, value in results["G(x)"]["judge_by_expression"].items()) + ".")
    return "\n".join(lines)


def example_figure(path, inputs, outputs, targets, labels, identities=(0, 1, 2, 3), expressions=(3, 6, 0, 5)):
    """Rows: the held-out inputs at each light x yaw; per example (identity, expression) three
    columns: input, G(x), exact target."""
    from fer_zoo.recipes.gasca.figures import image_grid

    available = np.unique(labels["identity"])
    identities = [int(available[i % len(available)]) if i not in available else int(i) for i in identities]
    rows, names = [], []
    for light in LIGHTS:
        for yaw in GATE_YAWS:
            row = []
            for ident, expr in zip(identities, expressions):
                mask = ((labels["identity"] == ident) & (labels["expression"] == expr) & (labels["yaw"] == yaw)
                        & (labels["light"] == light))
                i = int(np.flatnonzero(mask)[0])
                row += [inputs[i], outputs[i], targets[i]]
            rows.append(row)
            names.append(f"{light} {yaw:+d}")
    canvas = image_grid(rows, scale=2, labels=names)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def run_gate(normalizer, judge, out, config="synthfer64", heldout_seed=1, identities=20, intensity=1.0,
             train_seed=None, train_identities=None, flip_average=False):
    """Evaluate normaliser weights `normalizer` with the judge at `judge`; writes gate.json,
    gate.md and gate_examples.png into `out` and returns the results dict. `flip_average`:
    gate the weights as `build_normalizer(..., flip_average=True)` uses them (G(x) averaged with
    the mirror of G(mirror(x)), as the shipped preset does)."""
    from fer_zoo.evaluation import load_judge
    from fer_zoo.recipes.gasca.models import build_normalizer

    model_config, summary = normalizer_config(normalizer, config)
    size, channels = model_config["image_size"][0], model_config["channels"]
    generator = build_normalizer(**{**model_config, "flip_average": flip_average})
    generator.load_weights(str(normalizer))
    judge_model = load_judge(judge)
    if summary is not None:
        train_seed = summary["config"]["seed"] if train_seed is None else train_seed
        ids = summary.get("train_identities") if train_identities is None else range(train_identities)
    else:
        ids = range(train_identities or 200)
    train_seed = 0 if train_seed is None else train_seed
    judge_seed = judge_model.metadata.get("train", {}).get("seed")
    if heldout_seed in (train_seed, judge_seed):
        raise ValueError(f"synthfer_gate: --heldout-seed {heldout_seed} is a training seed (normaliser {train_seed}, "
                         f"judge {judge_seed}); held-out identities must come from another seed.")
    inputs, targets, labels = heldout_set(heldout_seed, identities, size, channels, intensity=intensity)
    means = mean_faces(train_seed, ids, size, channels, intensity)
    results, outputs = evaluate(generator, judge_model, inputs, targets, labels, means)
    results["setup"] = {"normalizer": str(normalizer), "judge": str(judge), "heldout_seed": heldout_seed,
                        "heldout_identities": identities, "intensity": intensity, "yaws": list(GATE_YAWS),
                        "lights": list(LIGHTS), "images": int(len(inputs)), "train_seed": train_seed,
                        "flip_average": flip_average,
                        "mean_face_identities": len(list(ids)), "model": model_config,
                        "judge_accuracy_exact_renders": judge_model.metadata.get("report", {}).get("accuracy")}
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gate.json").write_text(json.dumps(results, indent=1))
    md = table(results)
    (out / "gate.md").write_text(md + "\n")
    results["figure"] = str(example_figure(out / "gate_examples.png", inputs, outputs, targets, labels))
    results["table"] = md
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description="Gate of the GASCA2 SynthFER normaliser.")
    parser.add_argument("--normalizer", required=True, help="normalizer.weights.h5 of a GASCA run")
    parser.add_argument("--judge", required=True, help="folder (or .keras file) of fer_zoo.evaluation.judge")
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", default="synthfer64", help="model config if no normalizer.json / summary.json")
    parser.add_argument("--heldout-seed", type=int, default=1)
    parser.add_argument("--identities", type=int, default=20)
    parser.add_argument("--intensity", type=float, default=1.0)
    parser.add_argument("--flip-average", action="store_true",
                        help="average G(x) with the mirror of G(mirror(x)), as the shipped preset does")
    args = parser.parse_args(argv)
    results = run_gate(args.normalizer, args.judge, args.out, args.config, args.heldout_seed, args.identities,
                       args.intensity, flip_average=args.flip_average)
    print(results["table"])
    print("figure:", results["figure"])


if __name__ == "__main__":
    main()
