"""`python -m benchmarks [--quick] [--out DIR]`: run the suite, write results.json + results.md.

`fer-zoo bench ARGS` forwards ARGS here (`main(argv)`).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

from benchmarks import report
from benchmarks.common import machine_info, matmul_peak

SECTIONS = ("training", "pipeline", "inference")
RECIPES = ("gasca", "jpem", "fesr", "relgan")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="fer_zoo benchmarks: training throughput, input pipeline, inference, `fer` comparison.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps / smaller batches (minutes, noisier)")
    parser.add_argument("--out", default="bench_results", help="output folder (results.json, results.md)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument("--modes", nargs="+", default=None,
                        help="training modes (default: float32 xla, + mixed_float16 on GPU / mixed_bfloat16 on CPU)")
    parser.add_argument("--fer2013", default=None, metavar="PATH",
                        help="FER2013 folder with <class>/*.jpg: also report accuracy of `fer` (and of a fer2013 preset)")
    parser.add_argument("--xla-paper", action="store_true",
                        help="also measure XLA on the paper configurations (slow to compile on a CPU)")
    parser.add_argument("--configs", nargs="+", default=None, metavar="LABEL",
                        help="training configurations to measure (default all: small small@64 paper)")
    parser.add_argument("--case-timeout", type=float, default=600,
                        help="seconds per training case (process start, build, compile and steps)")
    return parser.parse_args(argv)


def log(message):
    print(message, file=sys.stderr, flush=True)


def run_training(args, out_dir):
    """One subprocess per case: an XLA abort, an out-of-memory or a compilation that outlives
    `--case-timeout` only loses that case."""
    import tensorflow as tf

    from benchmarks import training

    gpu = bool(tf.config.list_physical_devices("GPU"))
    results = []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    for recipe in args.recipes:
        for config, image_size, label, mode, options in training.plan(recipe, args.quick, args.modes,
                                                                         args.xla_paper, gpu):
            if args.configs and label not in args.configs:
                continue
            name = f"training_{recipe}_{label.replace('@', '_')}_{mode}"
            path = out_dir / f"{name}.json"
            command = [sys.executable, "-m", "benchmarks.training", "--recipe", recipe,
                       "--case", f"{config}:{image_size or '-'}:{mode}", "--label", label,
                       "--options", json.dumps(options), "--json", str(path)]
            started = time.perf_counter()
            base = {"recipe": recipe, "config": config, "image_size": image_size, "mode": mode, "label": label,
                    "status": "failed"}
            try:
                with open(out_dir / f"{name}.log", "w") as handle:
                    process = subprocess.run(command, stderr=handle, stdout=handle, timeout=args.case_timeout,
                                             env=env, check=False)
                if path.exists():
                    results.append(json.loads(path.read_text()))
                else:
                    results.append({**base, "error": f"process exited with {process.returncode} (see {name}.log)"})
            except subprocess.TimeoutExpired:
                results.append({**base, "error": f"not finished within {args.case_timeout:.0f} s "
                                                 "(compilation + steps) on this machine"})
            log(f"[train] {recipe} {label} {mode}: {results[-1].get('images_per_s', results[-1].get('error'))} "
                f"({time.perf_counter() - started:.0f} s)")
            (out_dir / "training_partial.json").write_text(json.dumps(results, indent=1))
    return results


def main(argv=None):
    args = parse_args(argv)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    results = {"command": command.strip(), "quick": args.quick, "machine": machine_info()}
    log(f"[bench] machine: {results['machine']}")
    results["matmul_peak"] = matmul_peak(2048 if args.quick else 4096, repeats=3 if args.quick else 5)
    log(f"[bench] matmul peak: {results['matmul_peak']['flops_per_s'] / 1e9:.1f} GFLOP/s")
    if "training" in args.sections:
        results["training"] = run_training(args, out_dir)
    if "pipeline" in args.sections:
        from benchmarks import pipeline

        results["pipeline"] = pipeline.run(args.quick, log)
    if "inference" in args.sections:
        from benchmarks import inference

        results["inference"] = inference.run(args.quick, args.fer2013, out_dir / "work", log)
    # Re-measured at the end: on a shared machine the peak drifts with the load.
    results["matmul_peak_end"] = matmul_peak(2048 if args.quick else 4096, repeats=3 if args.quick else 5)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = time.perf_counter() - started
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out_dir / "results.md").write_text(report.markdown(results))
    log(f"[bench] wrote {out_dir / 'results.json'} and {out_dir / 'results.md'}")
    return results


if __name__ == "__main__":
    main()
