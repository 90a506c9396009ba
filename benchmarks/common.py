"""Shared helpers: timing, machine description, peak matmul FLOP/s, synthetic photos."""

import os
import platform
import statistics
import subprocess
import time

import numpy as np


def timed(fn, warmup=1, repeats=5):
    """Call `fn()` `warmup + repeats` times; the first call's time is reported separately.

    Returns:
        dict with `first_s` (first call: tracing/compilation included), `median_s`, `min_s`,
        `max_s` of the timed calls after warm-up, and `repeats`.
    """
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(max(0, warmup - 1)):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {
        "first_s": first,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": repeats,
    }


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info():
    """CPU model, cores, load, library versions and accelerators of this machine."""
    import keras
    import tensorflow as tf

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count()
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "cpu": cpu_model(),
        "cores": cores,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": gpus,
        "gpu_names": [tf.config.experimental.get_device_details(g).get("device_name", "?")
                      for g in tf.config.list_physical_devices("GPU")],
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def matmul_peak(n=2048, repeats=5, dtype="float32", device=None):
    """Achieved FLOP/s of a large `n x n` matmul (2 n^3 FLOPs): the practical peak of the device."""
    import tensorflow as tf

    with tf.device(device or ("/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0")):
        a = tf.random.uniform((n, n), dtype=dtype)
        b = tf.random.uniform((n, n), dtype=dtype)
        matmul = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))

        def run():
            matmul(a, b).numpy()

        run()
        cpu_start = time.process_time()
        t = timed(run, warmup=2, repeats=repeats)
        cpu = (time.process_time() - cpu_start) / (repeats + 2)
    flops = 2.0 * n**3
    return {"n": n, "dtype": dtype, "median_s": t["median_s"], "flops_per_s": flops / t["median_s"],
            "best_flops_per_s": flops / t["min_s"],
            # FLOPs per CPU-second of this process: the load-independent measure of the peak.
            "flops_per_cpu_s": flops / cpu}


def synthetic_photos(n=8, size=(240, 320), face_size=128, seed=0, with_labels=True):
    """`n` licence-free "photos": a frontal SynthFER face pasted on a textured background.

    Returns:
        list of uint8 RGB arrays `(H, W, 3)`, and (with `with_labels`) the expression index of
        each face.
    """
    from fer_zoo.data.synthfer import SynthFER

    rng = np.random.default_rng(seed)
    renderer = SynthFER(image_size=face_size, channels=3, seed=seed)
    photos, labels = [], []
    height, width = size
    for i in range(n):
        expression = int(rng.integers(0, 7))
        face = renderer.render(identity=i % 16, expression=expression, intensity=1.0, yaw=0.0)
        # Smooth gradient + noise: texture the detector has to reject, no second face.
        yy, xx = np.mgrid[0:height, 0:width]
        base = 0.25 + 0.3 * (xx / width) + 0.15 * (yy / height)
        canvas = np.clip(base[..., None] + rng.normal(0, 0.04, (height, width, 3)), 0, 1)
        top = int(rng.integers(0, height - face_size + 1))
        left = int(rng.integers(0, width - face_size + 1))
        canvas[top:top + face_size, left:left + face_size] = (face + 1.0) / 2.0
        photos.append((canvas * 255).round().astype(np.uint8))
        labels.append(expression)
    return (photos, labels) if with_labels else photos


def fmt(value, digits=1):
    """Number for a Markdown cell ('-' when missing)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
