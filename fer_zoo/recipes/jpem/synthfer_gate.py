"""Gate of the JPEM SynthFER generator (`jpem-generator-synthfer`, config `synthfer64`).

Held-out faces: identities `0..identities-1` of *another* SynthFER seed (`--heldout-seed`,
never used in training). Input: each identity's neutral frontal render (intensity 1, even
light). Requested: every expression x yaw in {-45, 0, 45}. Target: the exact render of that
identity at that expression and yaw (intensity 1, even light).

Measured for G(x, e, p) and two baselines:

* **copy input**: the neutral frontal input itself, whatever was asked for;
* **mean face**: the training set's mean face for that target, i.e. the mean over the training
  identities (seed of the run) of their exact renders at that expression and yaw (it knows the
  requested expression and yaw, not the identity).

Metrics per expression x yaw cell and overall: SSIM to the target
(`fer_zoo.recipes.gasca.synthfer_gate.ssim`: on the images mapped to [0, 1], Gaussian window 11),
per-pixel mean L1 (in [-1, 1] units) and the share of images in which the expression judge
(`fer_zoo.evaluation.judge`, trained only on exact SynthFER renders) recognises the *requested*
expression. Gate (project issue 14): SSIM >= 0.70 and judge >= 85 % on G's outputs: `passed`
reads it over all cells, `every_cell_passed` in every cell. The mean face alone scores about
SSIM 0.70 and judge 100 % on this set (measured: 0.703 / 100 % with 200 seed-0 training
identities, 20 seed-1 held-out ones), so `beats_mean_face_ssim` (G's SSIM above it) is what shows
that G keeps the input's identity.

```
python -m fer_zoo.recipes.jpem.synthfer_gate --generator RUN/generator.keras --judge /tmp/judge --out DIR
```
Writes `DIR/gate.json`, `DIR/gate.md` (the table) and `DIR/gate_examples.png` (per held-out
identity and yaw: the input, G at the 7 expressions, the 7 exact targets).
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

GATE_YAWS = (-45.0, 0.0, 45.0)
SSIM_GATE = 0.70
JUDGE_GATE = 0.85
CANDIDATES = ("G", "copy input", "mean face")


def load_generator(path, config="synthfer64"):
    """`(generator, poses, summary)`: the saved G (`generator.keras` of a JPEM run, or its run
    folder), the yaw of each of its pose classes (the run's `summary.json` next to it, else
    `CONFIGS[config]["poses"]`) and that summary (or None)."""
    import keras

    from fer_zoo.recipes.jpem.train import resolve_config

    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "generator.keras"
    generator = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    summary_path = path.parent / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    poses = summary["poses"] if summary is not None else resolve_config(config)["poses"]
    if poses is None:
        raise ValueError(f"synthfer_gate: config {config!r} lists no poses; pass a run with a summary.json.")
    return generator, [float(p) for p in poses], summary


def renders(seed, identities, image_size, channels, expressions, yaws):
    """`(len(identities), len(expressions), len(yaws), H, W, C)` exact even-light renders at intensity 1."""
    from fer_zoo.data.synthfer import SynthFER
    from fer_zoo.recipes.gasca.train import _resize

    ids, grid = list(identities), [(e, y) for e in expressions for y in yaws]
    renderer = SynthFER(image_size=max(48, image_size), channels=channels, seed=seed)
    faces = renderer.render_batch([i for i in ids for _ in grid], [e for _ in ids for e, _ in grid], 1.0,
                                  [float(y) for _ in ids for _, y in grid], 0.0)
    faces = _resize(faces, (image_size, image_size))
    return faces.reshape(len(ids), len(expressions), len(yaws), image_size, image_size, channels)


def heldout_set(seed=1, identities=20, image_size=64, channels=1, yaws=GATE_YAWS):
    """`(inputs, targets, labels)`: per held-out identity x expression x yaw, the identity's
    neutral frontal render (input) and the exact render at that expression and yaw (target);
    labels `identity`, `expression`, `yaw`."""
    from fer_zoo.data.faceset import EXPRESSIONS

    expressions = range(len(EXPRESSIONS))
    grid = renders(seed, range(identities), image_size, channels, expressions, yaws)
    neutral = renders(seed, range(identities), image_size, channels, [EXPRESSIONS.index("neutral")], [0.0])[:, 0, 0]
    ident, expr, yaw = (a.reshape(-1) for a in np.meshgrid(range(identities), expressions, yaws, indexing="ij"))
    targets = grid.reshape(-1, *grid.shape[3:])
    labels = {"identity": ident, "expression": expr, "yaw": yaw.astype(np.float32)}
    return neutral[ident], targets, labels


def mean_faces(seed=0, identities=range(200), image_size=64, channels=1, yaws=GATE_YAWS):
    """`(7, len(yaws), H, W, C)`: per expression and yaw, the mean over the training identities
    of their exact renders (the "mean face for that target" baseline)."""
    from fer_zoo.data.faceset import EXPRESSIONS

    return renders(seed, identities, image_size, channels, range(len(EXPRESSIONS)), yaws).mean(0)


def generate(generator, inputs, expression, pose, num_expressions, num_poses, batch_size=128):
    """G's faces for `inputs` at integer `expression` / `pose` codes (float32, in batches)."""
    e = np.eye(num_expressions, dtype=np.float32)[np.asarray(expression)]
    p = np.eye(num_poses, dtype=np.float32)[np.asarray(pose)]
    return np.concatenate([
        np.asarray(generator([inputs[i:i + batch_size], e[i:i + batch_size], p[i:i + batch_size]], training=False),
                   np.float32)
        for i in range(0, len(inputs), batch_size)])


def cell_names(labels):
    from fer_zoo.data.faceset import EXPRESSIONS

    return [f"{EXPRESSIONS[e]} {int(y):+d}" for e, y in zip(labels["expression"], labels["yaw"])]


def evaluate(candidates, judge, targets, labels):
    """Gate metrics of each candidate (`{name: images}`): overall, per expression x yaw cell."""
    cells = cell_names(labels)
    results = {name: candidate_metrics(images, targets, labels["expression"], judge, cells)
               for name, images in candidates.items()}
    results["target_std_across_inputs"] = float(targets.std(0).mean())
    results["judge_on_targets"] = float((judge.predict(targets) == labels["expression"]).mean())
    g = results["G"]
    cells_ok = [g["ssim_by_cell"][c] >= SSIM_GATE and g["judge_by_cell"][c] >= JUDGE_GATE for c in g["ssim_by_cell"]]
    results["gate"] = {
        "ssim": g["ssim"] >= SSIM_GATE, "judge": g["judge_accuracy"] >= JUDGE_GATE,
        "passed": g["ssim"] >= SSIM_GATE and g["judge_accuracy"] >= JUDGE_GATE,
        "every_cell_passed": all(cells_ok), "cells_passed": int(sum(cells_ok)), "cells": len(cells_ok),
        "thresholds": {"ssim": SSIM_GATE, "judge_accuracy": JUDGE_GATE},
        "worst_cell_ssim": min(g["ssim_by_cell"].values()), "worst_cell_judge": min(g["judge_by_cell"].values()),
        # The mean face alone reaches SSIM ~0.70 and judge ~100 % (it knows the requested code):
        # a G that ignores its input could pass the thresholds; beating it shows identity is kept.
        "beats_mean_face_ssim": g["ssim"] > results["mean face"]["ssim"],
        "beats_copy_input_ssim": g["ssim"] > results["copy input"]["ssim"],
    }
    return results


def table(results):
    """The gate table (markdown): per expression x yaw cell, SSIM and judge accuracy of G and
    the two baselines, then the overall row and the verdict."""
    lines = metrics_table(results, CANDIDATES, "requested (expression yaw)")
    gate, g = results["gate"], results["G"]
    lines += ["", f"Gate (SSIM >= {SSIM_GATE}, judge >= {100 * JUDGE_GATE:.0f} % on G): "
              f"{'PASSED' if gate['passed'] else 'FAILED'} over all cells (SSIM {g['ssim']:.3f}, judge "
              f"{100 * g['judge_accuracy']:.1f} %); {gate['cells_passed']} of {gate['cells']} cells pass both "
              f"(worst cell SSIM {gate['worst_cell_ssim']:.3f}, judge {100 * gate['worst_cell_judge']:.1f} %). "
              f"SSIM above the mean face: {'yes' if gate['beats_mean_face_ssim'] else 'NO'}; above copying the input: "
              f"{'yes' if gate['beats_copy_input_ssim'] else 'NO'}. "
              f"Judge on the exact targets: {100 * results['judge_on_targets']:.1f} %. Output std across inputs: "
              f"G {g['output_std_across_inputs']:.3f}, targets {results['target_std_across_inputs']:.3f}."]
    return "\n".join(lines)


def example_figure(path, inputs, outputs, targets, labels, identities=(0, 1)):
    """Per held-out identity and yaw one row: the neutral frontal input, G at the 7
    expressions, the 7 exact targets."""
    from fer_zoo.data.faceset import EXPRESSIONS
    from fer_zoo.recipes.gasca.figures import image_grid

    available = np.unique(labels["identity"])
    rows, names = [], []
    for ident in [int(available[i % len(available)]) for i in identities]:
        for yaw in sorted(set(labels["yaw"].tolist())):
            picks = [int(np.flatnonzero((labels["identity"] == ident) & (labels["yaw"] == yaw)
                                        & (labels["expression"] == e))[0]) for e in range(len(EXPRESSIONS))]
            rows.append([inputs[picks[0]]] + [outputs[i] for i in picks] + [targets[i] for i in picks])
            names.append(f"id {ident} {int(yaw):+d}")
    image_grid(rows, scale=2, labels=names).save(path)  # the folder exists (write_gate)
    return path


def run_gate(generator, judge, out, config="synthfer64", heldout_seed=1, identities=20, train_seed=None,
             train_identities=None):
    """Evaluate a JPEM generator (`generator.keras` path or run folder) with the judge at `judge`
    (a folder / `.keras` file, or an `ExpressionJudge`); writes gate.json, gate.md and
    gate_examples.png into `out` and returns the results dict (plus `table`, `figure`)."""
    from fer_zoo.evaluation import load_judge

    model, poses, summary = load_generator(generator, config)
    judge_model = load_judge(judge) if isinstance(judge, str | pathlib.Path) else judge
    size, channels = int(model.input_shape[0][1]), int(model.input_shape[0][3])
    num_expressions, num_poses = int(model.input_shape[1][-1]), int(model.input_shape[2][-1])
    missing = [y for y in GATE_YAWS if not np.isclose(poses, y).any()]
    if missing or len(poses) != num_poses:
        raise ValueError(f"synthfer_gate: the generator's poses {poses} ({num_poses} classes) lack the gate's yaws {missing}.")
    ids = range(train_identities) if train_identities else None
    if summary is not None:
        train_seed = summary["config"]["synthetic"].get("seed", 0) if train_seed is None else train_seed
        ids = summary.get("train_identities") if ids is None else ids
    ids = range(200) if ids is None else ids
    train_seed = 0 if train_seed is None else train_seed
    judge_seed = judge_model.metadata.get("train", {}).get("seed")
    if heldout_seed in (train_seed, judge_seed):
        raise ValueError(f"synthfer_gate: --heldout-seed {heldout_seed} is a training seed (generator {train_seed}, "
                         f"judge {judge_seed}); held-out identities must come from another seed.")
    inputs, targets, labels = heldout_set(heldout_seed, identities, size, channels)
    pose = np.array([int(np.argmin(np.abs(np.asarray(poses) - y))) for y in labels["yaw"]])
    means = mean_faces(train_seed, ids, size, channels)
    outputs = generate(model, inputs, labels["expression"], pose, num_expressions, num_poses)
    yaw_index = np.searchsorted(np.asarray(GATE_YAWS), labels["yaw"])
    candidates = {"G": outputs, "copy input": inputs, "mean face": means[labels["expression"], yaw_index]}
    results = evaluate(candidates, judge_model, targets, labels)
    results["setup"] = {
        "generator": str(generator), "judge": str(judge), "heldout_seed": heldout_seed, "heldout_identities": identities,
        "yaws": list(GATE_YAWS), "poses": poses, "input": "neutral frontal, intensity 1, even light",
        "images": int(len(inputs)), "train_seed": train_seed, "mean_face_identities": len(list(ids)),
        "image_size": size, "channels": channels,
        "judge_accuracy_exact_renders": judge_model.metadata.get("report", {}).get("accuracy"),
    }
    return write_gate(out, results, table(results),
                      lambda path: example_figure(path, inputs, outputs, targets, labels))


def main(argv=None):
    parser = gate_parser("Gate of the JPEM SynthFER generator.", "--generator",
                         "generator.keras of a JPEM run (or the run folder)")
    parser.add_argument("--config", default="synthfer64", help="poses if the run has no summary.json")
    args = parser.parse_args(argv)
    print_gate(run_gate(args.generator, args.judge, args.out, args.config, args.heldout_seed, args.identities,
                        train_identities=args.train_identities))


if __name__ == "__main__":
    main()
