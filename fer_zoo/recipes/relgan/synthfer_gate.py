"""Gate of the REL-GAN SynthFER reenactment generator (`relgan-generator-synthfer`, config `synthfer64`).

Held-out faces: identities `0..identities-1` of *another* SynthFER seed (`--heldout-seed`, never
used in training), frontal, even light. Triplets: per target identity A its neutral render is
the target x_t; per expression e (all 7) two sources x_s, the renders of two other held-out
identities B != A with expression e at intensity 1 (B = A + 1 + (e + 7 k) mod (N - 1), k = 0, 1);
the ground truth is the exact render of A with expression e at intensity 1.

Candidates, each against the ground truth: G(x_t, x_s) and three baselines:

* **copy target**: x_t itself (right identity, neutral expression);
* **mean face**: the training set's mean face of the source's expression (the mean over the
  run's training identities, seed of the run, of their exact renders at e, intensity 1);
* **copy source**: x_s itself (right expression, wrong identity).

Metrics per source expression and overall (`fer_zoo.evaluation.gates.candidate_metrics`): SSIM
(images mapped to [0, 1], Gaussian window 11), per-pixel L1 and the share the expression judge
(`fer_zoo.evaluation.judge`, trained only on exact SynthFER renders) labels with the source's
expression.

Linear probes on f(e) = G_es(x) (`expression_encoder.keras`) and, beside them, on raw pixels,
over the held-out renders (7 expressions at intensity 1, the 6 non-neutral ones also at 0.5:
13 per identity). Multinomial logistic regression (`logistic_probe`): features centred and
divided by *one* global scale (no per-feature standardisation), L2 1e-3, full-batch gradient
descent. Splits:

* expression: subject-independent; train on the first half of the held-out identities, test
  on the rest (chance 1/7);
* identity: within identities, across expressions; train on every identity's renders of
  expressions 0, 2, 4, 6, test on its renders of 1, 3, 5 (chance 1/N).

Gate (project issue 14): G's SSIM >= 0.70; the expression probe on f(e) >= 90 %; the identity
probe on f(e) at most twice chance. `passed` needs all three.

```
python -m fer_zoo.recipes.relgan.synthfer_gate --run RUN --judge /tmp/judge --out DIR
```
Writes `DIR/gate.json`, `DIR/gate.md` (the tables) and `DIR/gate_examples.png` (rows: held-out
targets; columns: the target, G on the 7 sources, then the 7 exact renders; top row: the sources).
"""

import json
import pathlib

import numpy as np

from fer_zoo.evaluation.gates import (
    candidate_metrics,
    gate_parser,
    metrics_table,
    print_gate,
    write_gate,
)

SSIM_GATE = 0.70
EXPRESSION_PROBE_GATE = 0.90
IDENTITY_PROBE_FACTOR = 2.0  # identity probe on f(e) at most this times chance
CANDIDATES = ("G", "copy target", "mean face", "copy source")
PROBE_INTENSITIES = (0.5, 1.0)
IDENTITY_TRAIN_EXPRESSIONS = (0, 2, 4, 6)


def load_run(run):
    """`(generator, expression_encoder, summary)` of a `synthfer64` run folder (or the path of
    its `generator.keras`; `expression_encoder.keras` and `summary.json` sit next to it)."""
    import keras

    import fer_zoo.layers  # noqa: F401  (registers the project's layers)

    path = pathlib.Path(run)
    folder = path if path.is_dir() else path.parent
    generator_path = path / "generator.keras" if path.is_dir() else path
    generator = keras.saving.load_model(str(generator_path), compile=False, safe_mode=True)
    names = sorted(getattr(t, "name", "").split(":")[0] for t in generator.inputs)
    if names != ["source", "target"]:
        raise ValueError(f"synthfer_gate: {generator_path} has inputs {names}; expected named inputs "
                         "'target' and 'source' (a REL-GAN synthfer64 run's generator.keras).")
    encoder_path = folder / "expression_encoder.keras"
    encoder = keras.saving.load_model(str(encoder_path), compile=False, safe_mode=True) if encoder_path.exists() else None
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return generator, encoder, summary


def heldout_grid(seed, identities, image_size, channels):
    """`(identities, 7, 2, H, W, C)` exact frontal even-light renders at intensities 0.5, 1."""
    from fer_zoo.data.faceset import EXPRESSIONS
    from fer_zoo.recipes.fesr.synthfer_gate import renders

    return renders(seed, range(identities), image_size, channels, range(len(EXPRESSIONS)), PROBE_INTENSITIES)


def triplets(grid):
    """`(target, source, truth, labels)` of the gate (see the module docstring) from
    `heldout_grid`; labels `target_identity`, `source_identity`, `expression`."""
    from fer_zoo.data.faceset import EXPRESSIONS

    n, n_expr = grid.shape[0], grid.shape[1]
    if n < 2:
        raise ValueError("synthfer_gate needs at least 2 held-out identities (sources come from another one).")
    neutral, top = EXPRESSIONS.index("neutral"), PROBE_INTENSITIES.index(1.0)
    rows = [(a, (a + 1 + (e + n_expr * k) % (n - 1)) % n, e) for a in range(n) for e in range(n_expr) for k in (0, 1)]
    a, b, e = (np.asarray(v) for v in zip(*rows))
    labels = {"target_identity": a, "source_identity": b, "expression": e}
    return grid[a, neutral, top], grid[b, e, top], grid[a, e, top], labels


def mean_faces(seed, identities, image_size, channels):
    """`(7, H, W, C)`: per expression the mean of the training identities' exact renders at intensity 1."""
    from fer_zoo.data.faceset import EXPRESSIONS
    from fer_zoo.recipes.fesr.synthfer_gate import renders

    return renders(seed, identities, image_size, channels, range(len(EXPRESSIONS)), (1.0,))[:, :, 0].mean(0)


def generate(generator, target, source, batch_size=128):
    return np.concatenate([
        np.asarray(generator({"target": target[i:i + batch_size], "source": source[i:i + batch_size]}, training=False),
                   np.float32)
        for i in range(0, len(target), batch_size)])


def logistic_probe(train_x, train_y, test_x, test_y, num_classes, l2=1e-3, steps=2000):
    """Test accuracy of a multinomial logistic regression (numpy, full-batch gradient descent).
    Features are centred on the training mean and divided by one global scale (their RMS): no
    per-feature standardisation, which would blow up near-constant features."""
    train_x = np.asarray(train_x, np.float64).reshape(len(train_x), -1)
    test_x = np.asarray(test_x, np.float64).reshape(len(test_x), -1)
    mean = train_x.mean(0)
    scale = float(np.sqrt(np.mean((train_x - mean) ** 2))) or 1.0
    x, tx = (train_x - mean) / scale, (test_x - mean) / scale
    x, tx = np.hstack([x, np.ones((len(x), 1))]), np.hstack([tx, np.ones((len(tx), 1))])
    y = np.eye(num_classes)[np.asarray(train_y)]
    w = np.zeros((x.shape[1], num_classes))
    lr = 1.0 / (0.5 * float(np.max(np.sum(x ** 2, 1))) + l2)  # 1 / Lipschitz bound of the gradient
    for _ in range(steps):
        logits = x @ w
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= lr * (x.T @ (p - y) / len(x) + l2 * w)
    return float(np.mean(np.argmax(tx @ w, 1) == np.asarray(test_y)))


def probes(grid, encoder):
    """Expression and identity probes on f(e) (when `encoder` is given) and on raw pixels."""
    from fer_zoo.data.faceset import EXPRESSIONS

    n, n_expr = grid.shape[:2]
    neutral = EXPRESSIONS.index("neutral")
    keep = [(i, e, v) for i in range(n) for e in range(n_expr) for v in range(len(PROBE_INTENSITIES))
            if not (e == neutral and PROBE_INTENSITIES[v] != 1.0)]
    ident, expr, level = (np.asarray(c) for c in zip(*keep))
    images = grid[ident, expr, level]
    features = {"pixels": images.reshape(len(images), -1)}
    if encoder is not None:
        features["f(e)"] = np.asarray(encoder.predict(images, batch_size=128, verbose=0), np.float32)
    first_half = ident < max(1, n // 2)
    id_train = np.isin(expr, IDENTITY_TRAIN_EXPRESSIONS)
    out = {}
    for name, f in features.items():
        out[f"expression from {name}"] = {
            "accuracy": logistic_probe(f[first_half], expr[first_half], f[~first_half], expr[~first_half], n_expr),
            "chance": 1.0 / n_expr, "split": "train identities 0..N/2-1, test the rest",
        }
        out[f"identity from {name}"] = {
            "accuracy": logistic_probe(f[id_train], ident[id_train], f[~id_train], ident[~id_train], n),
            "chance": 1.0 / n, "split": f"train expressions {list(IDENTITY_TRAIN_EXPRESSIONS)}, test the others",
        }
    out["renders"] = int(len(images))
    return out


def evaluate(candidates, judge, truths, labels, probe_results):
    from fer_zoo.data.faceset import EXPRESSIONS

    cells = [EXPRESSIONS[e] for e in labels["expression"]]
    results = {name: candidate_metrics(images, truths, labels["expression"], judge, cells)
               for name, images in candidates.items()}
    results["target_std_across_inputs"] = float(truths.std(0).mean())
    results["judge_on_truths"] = float((judge.predict(truths) == labels["expression"]).mean())
    results["probes"] = probe_results
    g = results["G"]
    expr_probe = probe_results.get("expression from f(e)", {}).get("accuracy", float("nan"))
    id_probe = probe_results.get("identity from f(e)", {})
    checks = {
        "ssim": g["ssim"] >= SSIM_GATE,
        "expression_probe": bool(expr_probe >= EXPRESSION_PROBE_GATE),
        "identity_probe": bool(id_probe and id_probe["accuracy"] <= IDENTITY_PROBE_FACTOR * id_probe["chance"]),
    }
    results["gate"] = {
        **checks, "passed": all(checks.values()),
        "thresholds": {"ssim": SSIM_GATE, "expression_probe_f(e)": EXPRESSION_PROBE_GATE,
                       "identity_probe_f(e)_max_times_chance": IDENTITY_PROBE_FACTOR},
        "beats_copy_target_ssim": g["ssim"] > results["copy target"]["ssim"],
        "beats_mean_face_ssim": g["ssim"] > results["mean face"]["ssim"],
        "beats_copy_source_ssim": g["ssim"] > results["copy source"]["ssim"],
    }
    return results


def table(results):
    lines = metrics_table(results, CANDIDATES, "source expression")
    lines += ["", "| | " + " | ".join(CANDIDATES) + " |", "|---" * (1 + len(CANDIDATES)) + "|"]
    for label, key, fmt in (("SSIM", "ssim", "{:.3f}"), ("judge: source's expression", "judge_accuracy", "{:.1%}"),
                            ("L1 / pixel", "l1", "{:.3f}"), ("output std across inputs", "output_std_across_inputs", "{:.3f}")):
        lines.append(f"| {label} | " + " | ".join(fmt.format(results[n][key]) for n in CANDIDATES) + " |")
    p = results["probes"]
    lines += ["", "| linear probe (held-out renders) | accuracy | chance | split |", "|---|---|---|---|"]
    for name, v in p.items():
        if isinstance(v, dict):
            lines.append(f"| {name} | {100 * v['accuracy']:.1f} % | {100 * v['chance']:.1f} % | {v['split']} |")
    gate, g = results["gate"], results["G"]
    e = p.get("expression from f(e)", {"accuracy": float("nan")})
    i = p.get("identity from f(e)", {"accuracy": float("nan"), "chance": float("nan")})
    lines += ["", f"Gate (SSIM >= {SSIM_GATE}, expression from f(e) >= {100 * EXPRESSION_PROBE_GATE:.0f} %, identity "
              f"from f(e) <= {IDENTITY_PROBE_FACTOR:g} x chance): {'PASSED' if gate['passed'] else 'FAILED'} (SSIM "
              f"{g['ssim']:.3f} {'ok' if gate['ssim'] else 'NO'}; expression probe {100 * e['accuracy']:.1f} % "
              f"{'ok' if gate['expression_probe'] else 'NO'}; identity probe {100 * i['accuracy']:.1f} % vs chance "
              f"{100 * i['chance']:.1f} % {'ok' if gate['identity_probe'] else 'NO'}). SSIM above copying the target: "
              f"{'yes' if gate['beats_copy_target_ssim'] else 'NO'}; above the mean face: "
              f"{'yes' if gate['beats_mean_face_ssim'] else 'NO'}; above copying the source: "
              f"{'yes' if gate['beats_copy_source_ssim'] else 'NO'}. Judge on the exact renders: "
              f"{100 * results['judge_on_truths']:.1f} %. Output std across inputs: G {g['output_std_across_inputs']:.3f}, "
              f"exact renders {results['target_std_across_inputs']:.3f}."]
    return "\n".join(lines)


def example_figure(path, targets, sources, outputs, truths, labels, rows=4):
    """Rows: held-out targets (first source of each expression); columns: the target, G on the
    7 sources, the 7 exact renders. The top row shows the first row's sources."""
    from fer_zoo.recipes.gasca.figures import image_grid

    people = list(dict.fromkeys(labels["target_identity"].tolist()))[:rows]
    blank = np.zeros_like(targets[0]) - 1.0
    grid, names = [], []
    for n, a in enumerate(people):
        picks = [int(np.flatnonzero((labels["target_identity"] == a) & (labels["expression"] == e))[0])
                 for e in np.unique(labels["expression"])]
        if n == 0:
            grid.append([blank] + [sources[i] for i in picks] + [blank] * len(picks))
            names.append("sources")
        grid.append([targets[picks[0]]] + [outputs[i] for i in picks] + [truths[i] for i in picks])
        names.append(f"target id {a}")
    image_grid(grid, scale=2, labels=names).save(path)
    return path


def run_gate(run, judge, out, heldout_seed=1, identities=20, train_seed=None, train_identities=None):
    """Evaluate a REL-GAN synthfer64 run (folder or `generator.keras`) with the judge at `judge`
    (folder / `.keras` file, or an `ExpressionJudge`); writes gate.json, gate.md and
    gate_examples.png into `out` and returns the results (plus `table`, `figure`)."""
    from fer_zoo.evaluation import load_judge

    generator, encoder, summary = load_run(run)
    judge_model = load_judge(judge) if isinstance(judge, str | pathlib.Path) else judge
    shape = dict(zip([t.name.split(":")[0] for t in generator.inputs], generator.inputs))["target"].shape
    size, channels = int(shape[1]), int(shape[3])
    ids = range(train_identities) if train_identities else None
    if summary is not None:
        train_seed = summary["config"].get("seed", 0) if train_seed is None else train_seed
        ids = summary.get("train_identities") if ids is None else ids
    ids = range(200) if ids is None else ids
    train_seed = 0 if train_seed is None else train_seed
    judge_seed = judge_model.metadata.get("train", {}).get("seed")
    if heldout_seed in (train_seed, judge_seed):
        raise ValueError(f"synthfer_gate: --heldout-seed {heldout_seed} is a training seed (generator {train_seed}, "
                         f"judge {judge_seed}); held-out identities must come from another seed.")
    grid = heldout_grid(heldout_seed, identities, size, channels)
    targets, sources, truths, labels = triplets(grid)
    outputs = generate(generator, targets, sources)
    means = mean_faces(train_seed, ids, size, channels)
    candidates = {"G": outputs, "copy target": targets, "mean face": means[labels["expression"]],
                  "copy source": sources}
    results = evaluate(candidates, judge_model, truths, labels, probes(grid, encoder))
    results["setup"] = {
        "run": str(run), "judge": str(judge), "heldout_seed": heldout_seed, "heldout_identities": identities,
        "triplets": int(len(targets)), "target": "neutral, frontal, even light",
        "sources": "2 other held-out identities per target and expression, intensity 1", "train_seed": train_seed,
        "mean_face_identities": len(list(ids)), "image_size": size, "channels": channels,
        "expression_encoder": encoder is not None,
        "judge_accuracy_exact_renders": judge_model.metadata.get("report", {}).get("accuracy"),
    }
    return write_gate(out, results, table(results),
                      lambda path: example_figure(path, targets, sources, outputs, truths, labels))


def main(argv=None):
    parser = gate_parser("Gate of the REL-GAN SynthFER reenactment generator.", "--run",
                         "run folder of `fer-zoo train relgan --config synthfer64` (or its generator.keras)")
    args = parser.parse_args(argv)
    print_gate(run_gate(args.run, args.judge, args.out, args.heldout_seed, args.identities,
                        train_identities=args.train_identities))


if __name__ == "__main__":
    main()
