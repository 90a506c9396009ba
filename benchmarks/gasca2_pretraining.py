"""GASCA2 pre-training vs the same CNN2a from scratch, over training seeds (issue 14's claim).

For each seed: GASCA2 (Algorithm 1, config `kdef`) on the KDEF HL/S/HR faces of the 48 training
identities, then CNN2a initialised from its encoder and trained on FER2013 Training + KDEF (the
`gasca2` preset's recipe, `fer_zoo.recipes.general.train.fit(architecture="cnn2a")`); beside it
the same network, data, schedule and seed from random initialisation. Measured on the 12 KDEF
identities held out of both steps, per pose, on aligned crops (the network alone, no detection),
and on FER2013 PublicTest. Resumable: finished runs are read back, not retrained.

    python -m benchmarks.gasca2_pretraining --data DATA --out DIR --seeds 0 1 2 --epochs 20

DATA is the folder `python -m fer_zoo.recipes.general.train prepare` writes. Writes
`DIR/comparison.json` and prints a markdown table (mean +- sample std over seeds).
"""

import argparse
import json
import pathlib
import time

ARMS = ("pretrained", "scratch")


def _pretrain(data_dir, out_dir, seed):
    from fer_zoo.recipes.gasca.train import train
    from fer_zoo.recipes.general.train import PRETRAINING_FILE

    weights = out_dir / "normalizer.weights.h5"
    if not weights.exists():
        train(str(data_dir / PRETRAINING_FILE), out_dir=str(out_dir), config="kdef", variant="gasca2", precision="float32",
              val_fraction=0.0, classifier_epochs=0, seed=seed, verbose=0)  # float32 as the preset
    return weights


def run(data_dir, out_dir, seeds=(0, 1, 2), epochs=20, model_overrides=None):
    """Train what is missing under `out_dir` (`pre_s{seed}`, `pretrained_s{seed}`, `scratch_s{seed}`)."""
    import keras

    from fer_zoo.recipes.general.train import fit

    data_dir, out_dir = pathlib.Path(data_dir), pathlib.Path(out_dir)
    for seed in seeds:
        for arm in ARMS:
            run_dir = out_dir / f"{arm}_s{seed}"
            if (run_dir / "summary.json").exists():
                continue
            init = _pretrain(data_dir, out_dir / f"pre_s{seed}", seed) if arm == "pretrained" else None
            started = time.time()
            fit(str(data_dir), str(run_dir), epochs=epochs, seed=seed, architecture="cnn2a",
                init=None if init is None else str(init), model_overrides=model_overrides)
            print(f"{arm} seed {seed}: {time.time() - started:.0f} s", flush=True)
            keras.backend.clear_session()


def summarise(out_dir, seeds=(0, 1, 2)):
    """Mean +- sample std over the finished seeds of each arm (accuracies as fractions)."""
    from fer_zoo.evaluation.aggregate import over_runs

    out_dir = pathlib.Path(out_dir)
    result = {"seeds": list(seeds), "arms": {}, "missing": []}
    for arm in ARMS:
        rows = []
        for seed in seeds:
            path = out_dir / f"{arm}_s{seed}" / "summary.json"
            if not path.exists():
                result["missing"].append(f"{arm}_s{seed}")
                continue
            s = json.loads(path.read_text())
            kdef = s["kdef_heldout_plain"]
            row = {"kdef_all": kdef["accuracy"],
                   "kdef_hl_s_hr": _mean_of_poses(kdef, ("-45", "0", "45")),
                   **{f"yaw {yaw}": value for yaw, value in kdef["per_group"].items()},
                   "publictest": s["fer2013_publictest_plain"]["accuracy"],
                   "train_seconds": s["train_seconds"]}
            rows.append(row)
        if rows:
            result["arms"][arm] = over_runs(rows)
    return result


def _mean_of_poses(report, poses):
    # Unweighted mean of the per-pose accuracies (the held-out crops are ~160 per pose).
    return sum(report["per_group"][p] for p in poses) / len(poses)


def markdown_table(result):
    keys = [k for k in next(iter(result["arms"].values())) if k != "train_seconds"]
    lines = ["| arm | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for arm, stats in result["arms"].items():
        cells = []
        for key in keys:
            s = stats[key]
            cells.append(f"{100 * s['mean']:.1f}" + ("" if s["std"] is None else f" +- {100 * s['std']:.1f}"))
        lines.append(f"| {arm} (n={len(stats[keys[0]]['values'])}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder written by `fer_zoo.recipes.general.train prepare`")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--summarise-only", action="store_true", help="read the finished runs, train nothing")
    args = p.parse_args(argv)
    if not args.summarise_only:
        run(args.data, args.out, args.seeds, args.epochs)
    result = summarise(args.out, args.seeds)
    pathlib.Path(args.out, "comparison.json").write_text(json.dumps(result, indent=1))
    print(markdown_table(result))
    if result["missing"]:
        print("missing:", ", ".join(result["missing"]))


if __name__ == "__main__":
    main()
