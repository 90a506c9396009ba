"""Gate of the FESR SynthFER generator (`fesr-generator-synthfer`, config `synthfer64`).

Held-out faces: identities `0..identities-1` of *another* SynthFER seed (`--heldout-seed`,
never used in training). Input: each identity's neutral frontal render (even light). Requested:
every non-neutral expression at intensities 0, 0.2, .., 1 (`GATE_INTENSITIES`; FESR's code
u(y) = v (2y - 1), so intensity 0 is the zero code, the neutral face). Target: the exact render
of that identity at that expression and intensity (frontal, even light; intensity 0 = neutral).

Measured for G(x, y, v) and two baselines:

* **copy input**: the neutral input itself, whatever was asked for;
* **mean face**: the training set's mean face for that target, i.e. the mean over the training
  identities (seed of the run) of their exact renders at that expression and intensity.

Metrics per expression x intensity cell and overall: SSIM to the target
(`fer_zoo.recipes.gasca.synthfer_gate.ssim`: images mapped to [0, 1], Gaussian window 11),
per-pixel mean L1 (in [-1, 1] units) and the share of images in which the expression judge
(`fer_zoo.evaluation.judge`, trained only on exact SynthFER renders) picks the *requested*
expression; and per input face and requested expression the Spearman correlation between
intensity and the judge's probability of the requested class over the 6 steps (a constant
probability, e.g. copying the input, counts as 0).

Gate (project issue 14) on G's outputs: median Spearman >= 0.9 over faces and expressions; at
intensity 1 the judge recognises the requested class >= 85 %; SSIM >= 0.70 to the exact render
at the same intensity (mean over all cells). `passed` needs all three. The mean face knows the
requested code but not the identity, so `beats_mean_face_ssim` is what shows G keeps it.

```
python -m fer_zoo.recipes.fesr.synthfer_gate --generator RUN/generator.keras --judge /tmp/judge --out DIR
```
Writes `DIR/gate.json`, `DIR/gate.md` (the table) and `DIR/gate_examples.png` (per held-out
identity and expression one row: the input, G at the 6 intensities, the 6 exact renders).
"""

import json
import pathlib

import numpy as np

from fer_zoo.evaluation.gates import (
    by_cell,
    candidate_metrics,
    gate_parser,
    metrics_table,
    print_gate,
    write_gate,
)

GATE_INTENSITIES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SPEARMAN_GATE = 0.9
JUDGE_GATE = 0.85
SSIM_GATE = 0.70
CANDIDATES = ("G", "copy input", "mean face")


def load_generator(path):
    """`(generator, summary)`: the saved G (`generator.keras` of a paired FESR run, or its run
    folder; inputs `[image, expression one-hot, intensity]`) and the run's `summary.json` next
    to it (or None)."""
    import keras

    import fer_zoo.layers  # noqa: F401  (registers InstanceNormalization, ExpressionIntensityCode)

    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "generator.keras"
    generator = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    if len(generator.inputs) != 3:
        raise ValueError(f"synthfer_gate: {path} takes {len(generator.inputs)} inputs; expected "
                         "[image, expression one-hot, intensity] (a paired FESR run's generator.keras).")
    summary_path = path.parent / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return generator, summary


def renders(seed, identities, image_size, channels, expressions, intensities):
    """`(len(identities), len(expressions), len(intensities), H, W, C)` exact frontal even-light renders."""
    from fer_zoo.data.synthfer import SynthFER
    from fer_zoo.recipes.gasca.train import _resize

    ids, grid = list(identities), [(e, v) for e in expressions for v in intensities]
    renderer = SynthFER(image_size=max(48, image_size), channels=channels, seed=seed)
    faces = renderer.render_batch([i for i in ids for _ in grid], [e for _ in ids for e, _ in grid],
                                  [float(v) for _ in ids for _, v in grid], 0.0, 0.0)
    faces = _resize(faces, (image_size, image_size))
    return faces.reshape(len(ids), len(expressions), len(intensities), image_size, image_size, channels)


def requested_expressions():
    from fer_zoo.data.faceset import EXPRESSIONS

    return [e for e in range(len(EXPRESSIONS)) if EXPRESSIONS[e] != "neutral"]


def heldout_set(seed=1, identities=20, image_size=64, channels=1, intensities=GATE_INTENSITIES):
    """`(inputs, targets, labels)`: per held-out identity x non-neutral expression x intensity,
    the identity's neutral render (input) and the exact render at that code (target); labels
    `identity`, `expression`, `intensity`."""
    from fer_zoo.data.faceset import EXPRESSIONS

    expressions = requested_expressions()
    grid = renders(seed, range(identities), image_size, channels, expressions, intensities)
    neutral = renders(seed, range(identities), image_size, channels, [EXPRESSIONS.index("neutral")], [0.0])[:, 0, 0]
    ident, expr, level = (a.reshape(-1) for a in np.meshgrid(range(identities), expressions, intensities,
                                                              indexing="ij"))
    labels = {"identity": ident, "expression": expr, "intensity": level.astype(np.float32)}
    return neutral[ident], grid.reshape(-1, *grid.shape[3:]), labels


def mean_faces(seed=0, identities=range(200), image_size=64, channels=1, intensities=GATE_INTENSITIES):
    """`(6, len(intensities), H, W, C)`: per non-neutral expression and intensity, the mean over
    the training identities of their exact renders (the "mean face for that target" baseline)."""
    return renders(seed, identities, image_size, channels, requested_expressions(), intensities).mean(0)


def generate(generator, inputs, expression, intensity, num_expressions, batch_size=128):
    """G's faces for `inputs` at integer `expression` codes and `intensity` values (float32)."""
    e = np.eye(num_expressions, dtype=np.float32)[np.asarray(expression)]
    v = np.asarray(intensity, np.float32).reshape(-1, 1)
    return np.concatenate([
        np.asarray(generator([inputs[i:i + batch_size], e[i:i + batch_size], v[i:i + batch_size]], training=False),
                   np.float32)
        for i in range(0, len(inputs), batch_size)])


def spearman(values):
    """Spearman correlation of each row of `values` with its column order (average ranks for
    ties); a constant row gives 0 (no rise)."""
    values = np.asarray(values, np.float64)
    steps = values.shape[1]

    def ranks(row):
        order = np.argsort(row, kind="stable")
        r = np.empty(steps)
        r[order] = np.arange(steps, dtype=np.float64)
        for v in np.unique(row):  # ties share their average rank
            r[row == v] = r[row == v].mean()
        return r

    x = np.arange(steps, dtype=np.float64) - (steps - 1) / 2
    out = []
    for row in values:
        r = ranks(row) - (steps - 1) / 2
        denom = np.sqrt((r ** 2).sum() * (x ** 2).sum())
        out.append(float((r * x).sum() / denom) if denom > 0 else 0.0)
    return np.asarray(out)


def cell_names(labels):
    from fer_zoo.data.faceset import EXPRESSIONS

    return [f"{EXPRESSIONS[e]} {v:.1f}" for e, v in zip(labels["expression"], labels["intensity"])]


def monotonicity(images, labels, judge):
    """Judge's probability of the requested class per image, and per (input face, requested
    expression) the Spearman correlation of it with intensity: `(probabilities, rho, groups)`."""
    probs = judge.predict_proba(images)
    p = probs[np.arange(len(images)), np.asarray(labels["expression"])]
    ident, expr, level = labels["identity"], labels["expression"], labels["intensity"]
    levels = np.unique(level)
    groups = sorted(set(zip(ident.tolist(), expr.tolist())))
    table = np.stack([[p[(ident == i) & (expr == e) & (level == v)][0] for v in levels] for i, e in groups])
    return p, spearman(table), groups


def evaluate(candidates, judge, targets, labels):
    """Gate metrics of each candidate (`{name: images}`): overall, per cell and per intensity,
    judge accuracy at intensity 1, the monotonicity (Spearman) of the judge's probability."""
    from fer_zoo.data.faceset import EXPRESSIONS

    cells = cell_names(labels)
    top = labels["intensity"] == labels["intensity"].max()
    level_names = [f"{v:.1f}" for v in labels["intensity"]]
    results = {}
    for name, images in candidates.items():
        m = candidate_metrics(images, targets, labels["expression"], judge, cells)
        p, rho, groups = monotonicity(images, labels, judge)
        correct = np.asarray(judge.predict(images[top]) == labels["expression"][top], np.float32)
        m.update(
            judge_accuracy_at_1=float(correct.mean()),
            judge_at_1_by_expression=by_cell(correct, [EXPRESSIONS[e] for e in labels["expression"][top]]),
            ssim_by_intensity=by_cell(np.array([m["ssim_by_cell"][c] for c in cells]), level_names),
            requested_probability_by_intensity=by_cell(p, level_names),
            spearman_median=float(np.median(rho)), spearman_mean=float(np.mean(rho)),
            spearman_by_expression=by_cell(rho, [EXPRESSIONS[e] for _, e in groups]),
        )
        results[name] = m
    results["target_std_across_inputs"] = float(targets.std(0).mean())
    results["judge_on_targets"] = float((judge.predict(targets) == labels["expression"]).mean())
    results["judge_on_targets_at_1"] = float((judge.predict(targets[top]) == labels["expression"][top]).mean())
    _, rho, _ = monotonicity(targets, labels, judge)
    results["spearman_median_targets"] = float(np.median(rho))
    g = results["G"]
    checks = {"spearman": g["spearman_median"] >= SPEARMAN_GATE, "judge_at_1": g["judge_accuracy_at_1"] >= JUDGE_GATE,
              "ssim": g["ssim"] >= SSIM_GATE}
    results["gate"] = {
        **checks, "passed": all(checks.values()),
        "thresholds": {"spearman_median": SPEARMAN_GATE, "judge_accuracy_at_1": JUDGE_GATE, "ssim": SSIM_GATE},
        "worst_cell_ssim": min(g["ssim_by_cell"].values()),
        "beats_mean_face_ssim": g["ssim"] > results["mean face"]["ssim"],
        "beats_copy_input_ssim": g["ssim"] > results["copy input"]["ssim"],
    }
    return results


def table(results):
    """The gate table (markdown): per expression x intensity cell, SSIM and judge accuracy of G
    and the two baselines; a summary table (Spearman, judge at 1, SSIM); the verdict."""
    lines = metrics_table(results, CANDIDATES, "requested (expression intensity)")
    lines += ["", "| | " + " | ".join(CANDIDATES) + " |", "|---" * (1 + len(CANDIDATES)) + "|"]
    rows = [("median Spearman (judge p vs intensity)", "spearman_median", "{:.3f}"),
            ("judge at intensity 1 (%)", "judge_accuracy_at_1", "{:.1%}"), ("SSIM, all intensities", "ssim", "{:.3f}"),
            ("L1 / pixel", "l1", "{:.3f}")]
    for label, key, fmt in rows:
        lines.append(f"| {label} | " + " | ".join(fmt.format(results[n][key]) for n in CANDIDATES) + " |")
    for v in results["G"]["ssim_by_intensity"]:
        lines.append(f"| SSIM at {v} | " + " | ".join(f"{results[n]['ssim_by_intensity'][v]:.3f}" for n in CANDIDATES)
                     + " |")
    gate, g = results["gate"], results["G"]
    lines += ["", f"Gate (median Spearman >= {SPEARMAN_GATE}, judge at 1 >= {100 * JUDGE_GATE:.0f} %, SSIM >= "
              f"{SSIM_GATE}, on G): {'PASSED' if gate['passed'] else 'FAILED'} (Spearman {g['spearman_median']:.3f} "
              f"{'ok' if gate['spearman'] else 'NO'}; judge at 1 {100 * g['judge_accuracy_at_1']:.1f} % "
              f"{'ok' if gate['judge_at_1'] else 'NO'}; SSIM {g['ssim']:.3f} {'ok' if gate['ssim'] else 'NO'}). "
              f"SSIM above the mean face: {'yes' if gate['beats_mean_face_ssim'] else 'NO'}; above copying the input: "
              f"{'yes' if gate['beats_copy_input_ssim'] else 'NO'}. Exact targets: judge at 1 "
              f"{100 * results['judge_on_targets_at_1']:.1f} %, median Spearman {results['spearman_median_targets']:.3f}. "
              f"Output std across inputs: G {g['output_std_across_inputs']:.3f}, targets "
              f"{results['target_std_across_inputs']:.3f}."]
    return "\n".join(lines)


def example_figure(path, inputs, outputs, targets, labels, identities=(0, 1)):
    """Per held-out identity and requested expression one row: the neutral input, G at the 6
    intensities, the 6 exact renders at those intensities."""
    from fer_zoo.data.faceset import EXPRESSIONS
    from fer_zoo.recipes.gasca.figures import image_grid

    available = np.unique(labels["identity"])
    levels = np.unique(labels["intensity"])
    rows, names = [], []
    for ident in [int(available[i % len(available)]) for i in identities]:
        for e in requested_expressions():
            picks = [int(np.flatnonzero((labels["identity"] == ident) & (labels["expression"] == e)
                                        & (labels["intensity"] == v))[0]) for v in levels]
            rows.append([inputs[picks[0]]] + [outputs[i] for i in picks] + [targets[i] for i in picks])
            names.append(f"id {ident} {EXPRESSIONS[e][:5]}")
    image_grid(rows, scale=2, labels=names).save(path)  # the folder exists (write_gate)
    return path


def run_gate(generator, judge, out, heldout_seed=1, identities=20, train_seed=None, train_identities=None):
    """Evaluate a paired FESR generator (`generator.keras` path or run folder) with the judge at
    `judge` (a folder / `.keras` file, or an `ExpressionJudge`); writes gate.json, gate.md and
    gate_examples.png into `out` and returns the results dict (plus `table`, `figure`)."""
    from fer_zoo.evaluation import load_judge

    model, summary = load_generator(generator)
    judge_model = load_judge(judge) if isinstance(judge, str | pathlib.Path) else judge
    size, channels = int(model.input_shape[0][1]), int(model.input_shape[0][3])
    num_expressions = int(model.input_shape[1][-1])
    ids = range(train_identities) if train_identities else None
    if summary is not None:
        train_seed = summary["settings"].get("seed", 0) if train_seed is None else train_seed
        ids = summary.get("train_identities") if ids is None else ids
    ids = range(200) if ids is None else ids
    train_seed = 0 if train_seed is None else train_seed
    judge_seed = judge_model.metadata.get("train", {}).get("seed")
    if heldout_seed in (train_seed, judge_seed):
        raise ValueError(f"synthfer_gate: --heldout-seed {heldout_seed} is a training seed (generator {train_seed}, "
                         f"judge {judge_seed}); held-out identities must come from another seed.")
    inputs, targets, labels = heldout_set(heldout_seed, identities, size, channels)
    means = mean_faces(train_seed, ids, size, channels)
    outputs = generate(model, inputs, labels["expression"], labels["intensity"], num_expressions)
    e_index = np.searchsorted(np.asarray(requested_expressions()), labels["expression"])
    v_index = np.searchsorted(np.asarray(GATE_INTENSITIES, np.float32), labels["intensity"])
    candidates = {"G": outputs, "copy input": inputs, "mean face": means[e_index, v_index]}
    results = evaluate(candidates, judge_model, targets, labels)
    results["setup"] = {
        "generator": str(generator), "judge": str(judge), "heldout_seed": heldout_seed, "heldout_identities": identities,
        "intensities": list(GATE_INTENSITIES), "expressions": requested_expressions(),
        "input": "neutral, frontal, even light", "images": int(len(inputs)), "train_seed": train_seed,
        "mean_face_identities": len(list(ids)), "image_size": size, "channels": channels,
        "judge_accuracy_exact_renders": judge_model.metadata.get("report", {}).get("accuracy"),
    }
    return write_gate(out, results, table(results),
                      lambda path: example_figure(path, inputs, outputs, targets, labels))


def main(argv=None):
    parser = gate_parser("Gate of the FESR SynthFER generator.", "--generator",
                         "generator.keras of a paired FESR run (or the run folder)")
    args = parser.parse_args(argv)
    print_gate(run_gate(args.generator, args.judge, args.out, args.heldout_seed, args.identities,
                        train_identities=args.train_identities))


if __name__ == "__main__":
    main()
