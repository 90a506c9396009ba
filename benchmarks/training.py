"""Training throughput of every recipe's `train_step` (+ achieved FLOP/s against the matmul peak).

One case per process (`python -m benchmarks.training --recipe jpem --case small:64:xla --json
out.json`) so an XLA failure, a crash or a compilation that outlives its time limit cannot take the
other cases with it; `benchmarks.__main__` runs them all.

Each case builds the recipe's main training model (`fer_zoo.tuning.build_recipe`: GASCA's
stacked G/D, JPEM's joint model, FESR's joint stage, REL-GAN's reenactment GAN) from a config,
feeds a synthetic batch through `tf.function(model.train_step)` (the step `fit`'s train function runs), and
times single steps: the first call (tracing + graph optimisation, or XLA compilation) is reported
apart from the median of the steps after warm-up.
"""

import argparse
import collections
import gc
import json
import sys
import time
import traceback

# Op types whose cost the TF profiler does not count (no registered "flops" statistics): if a
# graph holds any of them, its FLOP count is a lower bound.
HEAVY_UNCOUNTED = ("Einsum", "BatchMatMulV2", "BatchMatMulV3", "DepthwiseConv2dNative",
                   "Conv3D", "FusedBatchNormV3", "ResizeBilinear", "ExtractImagePatches")


def cases(recipe, quick=False):
    """`(config, image_size, label)` of the configurations measured for `recipe`."""
    out = [("small", None, "small"), ("small", 64, "small@64")]
    out.append(("paper", None, "paper"))
    return out


def graph_flops(function, batch):
    """FLOPs of the graph of `function(batch)` (traced here) counted by the TF profiler."""
    import tensorflow as tf

    return profile_flops(tf.function(function).get_concrete_function(tf.nest.map_structure(tf.convert_to_tensor, batch)))


def profile_flops(concrete):
    """FLOPs of a concrete function's graph counted by the TF profiler, and the op types that
    carry compute the profiler cannot count."""
    import tensorflow as tf
    from tensorflow.python.framework import ops as tf_ops

    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=concrete.graph, options=options)
    types = collections.Counter(op.type for op in concrete.graph.get_operations())
    uncounted = sorted(t for t in types if t in HEAVY_UNCOUNTED
                       and tf_ops._stats_registry._registry.get(f"{t},flops") is None)  # noqa: SLF001
    return int(profile.total_float_ops), uncounted


def _sync(outputs):
    import tensorflow as tf

    value = outputs.get_value() if hasattr(outputs, "get_value") else outputs
    for tensor in tf.nest.flatten(value):
        tensor.numpy()


def bench_case(recipe, config, image_size, mode, batch_size=None, warmup=2, steps=5, flops=True,
               forward_flops=True):
    """Throughput of one recipe / config / mode.

    Args:
        mode: `"float32"`, `"xla"` (float32, `jit_compile=True`), `"mixed_float16"` or
            `"mixed_bfloat16"`.

    Returns:
        dict with `images_per_s` (batch items per second, median step), `step_s`, `first_step_s`,
        `build_s`, `batch_size`, `image_shape`, `params`, `step_cpu_s`, and (float32)
        `train_flops`, `forward_flops` (test_step graph), `achieved_flops_per_s`,
        `flops_per_cpu_s`.
    """
    import keras
    import tensorflow as tf

    from fer_zoo import tuning
    from fer_zoo.training import set_precision

    keras.backend.clear_session()
    gc.collect()
    previous = keras.config.dtype_policy().name
    set_precision(mode if mode in ("mixed_float16", "mixed_bfloat16") else "float32")
    try:
        cfg = tuning.recipe_config(recipe, config, image_size)
        batch_size = int(batch_size or tuning.batch_size_of(recipe, cfg))
        start = time.perf_counter()
        model = tuning.build_recipe(recipe, config, image_size)
        model.build_optimizers()
        build_s = time.perf_counter() - start
        batch = tuning.synthetic_batch(recipe, config, batch_size, image_size)
        result = {
            "recipe": recipe, "config": config, "image_size": image_size, "mode": mode,
            "batch_size": batch_size, "image_shape": list(tuning.image_shape(recipe, cfg)),
            "params": int(sum(int(tf.size(v)) for v in model.trainable_variables)),
            "build_s": build_s,
        }
        # The step Keras' `make_train_function` wraps (minus its iterator plumbing), traced once
        # for a fixed batch shape: the same concrete graph is timed and then FLOP-profiled.
        tensors = tf.nest.map_structure(tf.convert_to_tensor, batch)
        step = tf.function(model.train_step, jit_compile=mode == "xla", reduce_retracing=True)

        start = time.perf_counter()
        _sync(step(tensors))
        result["first_step_s"] = time.perf_counter() - start
        for _ in range(max(0, warmup - 1)):
            _sync(step(tensors))
        times, cpu_times = [], []
        for _ in range(steps):
            start, cpu_start = time.perf_counter(), time.process_time()
            _sync(step(tensors))
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
        times.sort()
        cpu_times.sort()
        # CPU seconds of this process per step (all its threads): unlike wall time, barely
        # affected by other processes on a shared machine.
        result["step_cpu_s"] = cpu_times[len(cpu_times) // 2]
        result["step_s"] = times[len(times) // 2]
        result["step_min_s"] = times[0]
        result["steps"] = steps
        result["images_per_s"] = batch_size / result["step_s"]
        if flops and mode == "float32":
            result["train_flops"], result["flops_uncounted_ops"] = profile_flops(step.get_concrete_function(tensors))
            if forward_flops:
                result["forward_flops"], _ = graph_flops(model.test_step, batch)
            result["achieved_flops_per_s"] = result["train_flops"] / result["step_s"]
            result["flops_per_cpu_s"] = result["train_flops"] / result["step_cpu_s"]
        return result
    finally:
        keras.config.set_dtype_policy(previous)


def plan(recipe, quick=False, modes=None, xla_paper=False, gpu=False):
    """`(config, image_size, label, mode, options)` of every case measured for `recipe`.

    XLA is measured on the small configurations; on the paper configurations only with
    `xla_paper` (its CPU compilation of the big networks takes many minutes). Mixed precision is
    mixed_float16 on a GPU and mixed_bfloat16 on a CPU (what `set_precision("mixed")` picks);
    on a CPU only for the small configurations.
    """
    modes = list(modes or (["float32", "xla"] + (["mixed_float16"] if gpu else ["mixed_bfloat16"])))
    out = []
    for config, image_size, label in cases(recipe, quick):
        paper = config == "paper"
        for mode in modes:
            if paper and mode == "xla" and (quick or not xla_paper):
                continue
            if paper and mode == "mixed_bfloat16" and not gpu:
                continue
            options = {"warmup": 1 if paper else 2, "steps": (2 if quick else 3) if paper else (3 if quick else 7)}
            if quick and paper:
                options["batch_size"] = 4
            out.append((config, image_size, label, mode, options))
    return out


def run_case(recipe, config, image_size, label, mode, options, log=print):
    """One case; a failure is recorded with its error, never raised."""
    from benchmarks.common import matmul_peak

    started = time.perf_counter()
    try:
        result = bench_case(recipe, config, image_size, mode, **options)
        result["status"] = "ok"
    except Exception as error:  # report, e.g., an op XLA cannot compile
        result = {"recipe": recipe, "config": config, "image_size": image_size, "mode": mode,
                  "status": "failed", "error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"}
        log(traceback.format_exc(limit=3))
    result["label"] = label
    result["wall_s"] = time.perf_counter() - started
    # The peak measured in the same process, just after the case: the load it ran under.
    result["matmul_peak"] = matmul_peak(2048, repeats=3)
    log(f"[train] {recipe} {label} {mode}: {result.get('images_per_s', result.get('error'))}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description="Training throughput of one recipe case.")
    parser.add_argument("--recipe", required=True, choices=("gasca", "jpem", "fesr", "relgan"))
    parser.add_argument("--case", required=True, help="CONFIG:IMAGE_SIZE|-:MODE, e.g. small:64:xla")
    parser.add_argument("--label", default=None)
    parser.add_argument("--options", default="{}", help="JSON of bench_case options (warmup, steps, batch_size)")
    parser.add_argument("--json", required=True, help="where to write the result")
    args = parser.parse_args(argv)
    config, size, mode = args.case.split(":")
    image_size = None if size in ("", "-") else int(size)
    result = run_case(args.recipe, config, image_size, args.label or config, mode, json.loads(args.options),
                      log=lambda message: print(message, file=sys.stderr, flush=True))
    with open(args.json, "w") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
