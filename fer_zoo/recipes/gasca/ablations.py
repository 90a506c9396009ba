"""GASCA ablations: ConvMLP vs plain convolution encoder layers, HalfConv vs a full convolution at
the alpha = 0 layer, and GANGGLW (Algorithm 1) vs joint adversarial training of the whole stack.

Every arm is the GASCA2 recipe with one switch flipped, trained with the same budget on the same
subject-independent split (fixed `split_seed`; `seed` varies the initialisation / shuffling /
relighting only), and evaluated on the same held-out identities:

| arm            | switch                                   |
|----------------|------------------------------------------|
| `gasca2`       | reference: ConvMLP x (K-1) + HalfConv, GANGGLW |
| `conv_encoder` | `model={"encoder_layer": "conv"}`        |
| `conv_frontal` | `model={"frontal_layer": "conv"}`        |
| `joint`        | `schedule="joint"`                       |
| `scratch`      | `pretrain=False` (same classifier, no GASCA pre-training) |
| `conv_encoder_scratch` | the `conv_encoder` classifier with `pretrain=False` |

```bash
python -m fer_zoo.recipes.gasca.ablations --data synthetic --out runs/gasca_abl_quick --budget quick
python -m fer_zoo.recipes.gasca.ablations --data /tmp/fer_data/kdef_faces_64_grey.npz \
    --out runs/gasca_abl_kdef --budget reduced --seeds 0 1
```
Writes `ablations.json` and `ablations.md` (accuracy overall / per pose, mean +- std over seeds,
parameters and multiply-adds of the encoder) into `--out`; each run is its own resumable
`train()` folder `--out/<arm>_s<seed>`, and a finished run (its `summary.json`) is not re-run.
"""

import argparse
import json
import pathlib

import numpy as np

from fer_zoo.layers import ConvMLP, HalfConv

ARMS = {
    "gasca2": {},
    "conv_encoder": {"model": {"encoder_layer": "conv"}},
    "conv_frontal": {"model": {"frontal_layer": "conv"}},
    "joint": {"schedule": "joint"},
    "scratch": {"pretrain": False},
    "conv_encoder_scratch": {"model": {"encoder_layer": "conv"}, "pretrain": False},
}
ARM_LABELS = {
    "gasca2": "GASCA2 reference (ConvMLP + HalfConv, GANGGLW)",
    "conv_encoder": "(a) plain conv + avg-pool encoder layers 1-3",
    "conv_frontal": "(b) full conv at the alpha = 0 layer",
    "joint": "(c) joint training of the whole stack",
    "scratch": "same classifier from scratch (no GASCA)",
    "conv_encoder_scratch": "(a) plain-conv network from scratch (no GASCA)",
}

# Training budgets (overrides of the "small" / "kdef" configs). "reduced" is the budget of the
# 5-fold KDEF cross-validation in docs/gasca.md; "quick" runs in minutes on SynthFER.
BUDGETS = {
    # (5 classifier epochs left every arm at chance on SynthFER; 12 lets every arm learn.)
    "quick": {"gan_epochs": 1, "finetune_epochs": 1, "classifier_epochs": 12, "synthetic": {"identities": 12}},
    "reduced": {"gan_epochs": 2, "finetune_epochs": 1, "classifier_epochs": 25},
    "full": {},
}


def encoder_stats(model_config):
    """Parameters of the classifier / encoder / stacked generator and per-image multiply-adds of
    each encoder layer (convolutions, shifting matrices; pooling and biases not counted)."""
    from fer_zoo.recipes.gasca.models import GASCANetworks, build_classifier

    nets = GASCANetworks(**model_config)
    layers, macs = [], []
    for k, encoder in enumerate(nets.encoders, start=1):
        in_shape = nets.shapes[k - 1]
        layer_macs = 0
        for layer in encoder.layers[1:]:
            if isinstance(layer, ConvMLP):
                conv_h, conv_w = layer.conv_output_shape((None, *in_shape))
                layer_macs += conv_h * conv_w * int(np.prod(layer.kernel_size)) * in_shape[-1] * layer.filters
                layer_macs += conv_h * conv_w * layer.shifting_units * layer.filters
            elif isinstance(layer, HalfConv):
                layer_macs += layer.compute_macs((None, *in_shape))["half_conv"]
            elif layer.__class__.__name__ == "Conv2D":
                out_h, out_w = layer.output.shape[1:3]
                layer_macs += out_h * out_w * int(np.prod(layer.kernel_size)) * in_shape[-1] * layer.filters
        layers.append({"layer": k, "type": "+".join(type(part).__name__ for part in encoder.layers[1:]),
                       "params": int(encoder.count_params()), "macs": int(layer_macs)})
        macs.append(layer_macs)
    classifier = build_classifier(**nets.config)
    return {
        "classifier_params": int(classifier.count_params()),
        "encoder_params": int(sum(e.count_params() for e in nets.encoders)),
        "generator_params": int(nets.stacked_generator().count_params()),
        "encoder_macs": int(sum(macs)),
        "layers": layers,
    }


def run_arm(arm, seed, data, out_dir, budget="reduced", variant="gasca2", split_seed=0, **overrides):
    """Train one arm with one seed (or load its finished `summary.json`)."""
    from fer_zoo.recipes.gasca.train import train

    run_dir = pathlib.Path(out_dir) / f"{arm}_s{seed}"
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    options = _options(arm, data, budget, split_seed, seed, overrides)
    config = options.pop("config")
    return train(data, out_dir=str(run_dir), config=config, variant=variant, **options)


def _options(arm, data, budget, split_seed, seed, overrides):
    options = {"config": "small" if data == "synthetic" else "kdef", **BUDGETS[budget],
               "seed": seed, "split_seed": split_seed, "verbose": 0}
    # Extra overrides first, then the arm's switch (model switches merged key by key).
    for source in (overrides, ARMS[arm]):
        for key, value in source.items():
            if key == "model" and "model" in options:
                options["model"] = {**options["model"], **value}
            else:
                options[key] = value
    return options


def _model_config(arm, data, budget, overrides):
    from fer_zoo.recipes.gasca.train import resolve_config

    options = _options(arm, data, budget, 0, 0, overrides)
    config = options.pop("config")
    keep = {k: v for k, v in options.items() if k in ("model",)}
    return resolve_config(config, **keep)["model"]


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None


def summarise(arms, seeds, data, out_dir, budget="reduced", **overrides):
    """Collect the finished runs under `out_dir` into one dict (missing runs are listed)."""
    out_dir = pathlib.Path(out_dir)
    results = {"data": str(data), "budget": budget, "budget_overrides": BUDGETS[budget], "seeds": list(seeds),
               "overrides": overrides, "arms": {}, "missing": []}
    for arm in arms:
        runs = []
        for seed in seeds:
            path = out_dir / f"{arm}_s{seed}" / "summary.json"
            if not path.exists():
                results["missing"].append(f"{arm}_s{seed}")
                continue
            s = json.loads(path.read_text())
            c = s.get("classifier", {})
            runs.append({"seed": seed, "accuracy": c.get("accuracy"), "n": c.get("n"), "per_yaw": c.get("per_yaw", {}),
                         "relit": s.get("classifier_relit", {}).get("accuracy"),
                         "reconstruction": s.get("reconstruction"), "seconds": s.get("seconds"),
                         "val_identities": s.get("val_identities")})
        stats = encoder_stats(_model_config(arm, data, budget, overrides))
        entry = {"label": ARM_LABELS[arm], "switch": ARMS[arm], "runs": runs, **stats}
        entry["accuracy_mean"], entry["accuracy_std"] = _mean_std([r["accuracy"] for r in runs])
        yaws = sorted({int(y) for r in runs for y in r["per_yaw"]})
        entry["per_yaw_mean"] = {y: _mean_std([r["per_yaw"].get(str(y), r["per_yaw"].get(y)) for r in runs])[0] for y in yaws}
        entry["relit_mean"] = _mean_std([r["relit"] for r in runs])[0]
        recon = [np.mean(list(r["reconstruction"].values())) for r in runs if r["reconstruction"]]
        entry["reconstruction_l1_mean"] = float(np.mean(recon)) if recon else None
        results["arms"][arm] = entry
    return results


def markdown_table(results):
    """The ablation table (accuracies in %, mean +- sample std over seeds)."""
    yaws = sorted({y for e in results["arms"].values() for y in e["per_yaw_mean"]})
    head = ("| arm | encoder params | encoder MACs | acc. per seed | mean +- std | "
            + " | ".join(f"{y:+d}" if y else "0" for y in yaws) + " | relit | G L1 to frontal | wall s |")
    lines = [head, "|" + "---|" * (8 + len(yaws))]
    def pct(v):
        return "–" if v is None else f"{100 * v:.1f}"
    for _arm, e in results["arms"].items():
        seeds = ", ".join(pct(r["accuracy"]) for r in e["runs"]) or "–"
        mean = pct(e["accuracy_mean"]) + ("" if e["accuracy_std"] is None else f" +- {100 * e['accuracy_std']:.1f}")
        recon = "–" if e["reconstruction_l1_mean"] is None else f"{e['reconstruction_l1_mean']:.3f}"
        seconds = "/".join(f"{r['seconds']:.0f}" for r in e["runs"] if r["seconds"] is not None) or "–"
        lines.append(f"| {e['label']} | {e['encoder_params']:,} | {e['encoder_macs'] / 1e6:.2f} M | {seeds} | {mean} | "
                     + " | ".join(pct(e["per_yaw_mean"].get(y)) for y in yaws)
                     + f" | {pct(e['relit_mean'])} | {recon} | {seconds} |")
    if results["missing"]:
        lines.append(f"\nMissing runs: {', '.join(results['missing'])}")
    return "\n".join(lines) + "\n"


def run_ablations(data, out_dir, arms=tuple(ARMS), seeds=(0, 1), budget="reduced", variant="gasca2",
                  split_seed=0, train_runs=True, **overrides):
    """Train (unless `train_runs=False`) every arm x seed, then write `ablations.json` / `.md`."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if train_runs:
        for seed in seeds:
            for arm in arms:
                s = run_arm(arm, seed, data, out_dir, budget, variant, split_seed, **overrides)
                acc = s.get("classifier", {}).get("accuracy")
                print(f"ABLATION {arm} seed {seed}: accuracy {acc} ({s.get('seconds')} s)", flush=True)
    results = summarise(arms, seeds, data, out_dir, budget, **overrides)
    (out_dir / "ablations.json").write_text(json.dumps(results, indent=1))
    (out_dir / "ablations.md").write_text(markdown_table(results))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="synthetic", help="'synthetic', 'kdef' or a FaceSet .npz path")
    parser.add_argument("--out", required=True)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--budget", default=None, choices=list(BUDGETS),
                        help="default: quick on synthetic, reduced otherwise")
    parser.add_argument("--variant", default="gasca2", choices=["gasca1", "gasca2"])
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--table-only", action="store_true", help="only summarise finished runs")
    parser.add_argument("--overrides", default="{}", help="JSON of extra train() options")
    args = parser.parse_args(argv)
    budget = args.budget or ("quick" if args.data == "synthetic" else "reduced")
    results = run_ablations(args.data, args.out, args.arms, args.seeds, budget, args.variant, args.split_seed,
                            train_runs=not args.table_only, **json.loads(args.overrides))
    print(markdown_table(results))


if __name__ == "__main__":
    main()
