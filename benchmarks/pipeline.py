"""Input pipeline alone: SynthFER rendering, and decode + detect/align + augment of photos.

Shows whether data preparation could limit training: compare its images/s with the training
throughput of the same image size.
"""

import time

import numpy as np

from benchmarks.common import synthetic_photos, timed


def synthfer_rate(image_size, n=64, channels=1, seed=0):
    """SynthFER faces rendered per second at `image_size` (cold: new identities; warm: cached)."""
    from fer_zoo.data.synthfer import SynthFER

    rng = np.random.default_rng(seed)
    renderer = SynthFER(image_size=image_size, channels=channels, seed=seed)
    kwargs = {
        "identity": rng.integers(0, 16, n).tolist(),
        "expression": rng.integers(0, 7, n).tolist(),
        "intensity": rng.uniform(0.3, 1.0, n).tolist(),
        "yaw": rng.uniform(-60, 60, n).tolist(),
        "pitch": rng.uniform(-15, 15, n).tolist(),
    }
    start = time.perf_counter()
    renderer.render_batch(**kwargs)
    cold = time.perf_counter() - start
    warm = timed(lambda: renderer.render_batch(**kwargs), warmup=0, repeats=3)
    return {"image_size": image_size, "channels": channels, "n": n,
            "cold_images_per_s": n / cold, "images_per_s": n / warm["median_s"]}


def preprocessing_rate(n=16, size=64, channels=1, seed=0):
    """Photos/s through JPEG decode, Haar detection + eye alignment (`FacePreprocessor`), and
    faces/s through `standard_augment` in a `tf.data` map, on composited SynthFER photos."""
    import cv2
    import tensorflow as tf

    from fer_zoo.data.augment import standard_augment
    from fer_zoo.data.preprocessing import FacePreprocessor

    photos = synthetic_photos(n, seed=seed, with_labels=False)
    encoded = [cv2.imencode(".jpg", cv2.cvtColor(p, cv2.COLOR_RGB2BGR))[1].tobytes() for p in photos]
    pre = FacePreprocessor(size=size, channels=channels)

    def decode():
        return [cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                for b in encoded]

    decoded = decode()
    t_decode = timed(decode, warmup=0, repeats=3)["median_s"]
    found = []

    def detect_align():
        found.clear()
        for image in decoded:
            found.extend(face for _, face in pre(image))

    t_align = timed(detect_align, warmup=0, repeats=2)["median_s"]
    faces = np.stack(found) if found else np.zeros((n, size, size, channels), np.float32)
    faces = np.repeat(faces, max(1, 256 // len(faces)), axis=0)

    def augment_all():
        ds = (tf.data.Dataset.from_tensor_slices(faces)
              .map(lambda x: standard_augment(x)[0], num_parallel_calls=tf.data.AUTOTUNE)
              .batch(64).prefetch(tf.data.AUTOTUNE))
        for _ in ds:
            pass

    t_augment = timed(augment_all, warmup=1, repeats=3)["median_s"]
    photos_per_s = n / (t_decode + t_align)
    return {
        "photos": n, "photo_shape": list(photos[0].shape), "face_size": size, "channels": channels,
        "faces_found": len(found), "decode_photos_per_s": n / t_decode,
        "detect_align_photos_per_s": n / t_align, "decode_align_photos_per_s": photos_per_s,
        "augment_faces_per_s": len(faces) / t_augment,
        # The whole chain for one face per photo: decode + align, then augment.
        "end_to_end_faces_per_s": 1.0 / (1.0 / photos_per_s + t_augment / len(faces)),
    }


def run(quick=False, log=print):
    results = {"synthfer": [], "preprocessing": None}
    for size in (64, 128):
        try:
            results["synthfer"].append(synthfer_rate(size, n=32 if quick else 128))
        except Exception as error:
            results["synthfer"].append({"image_size": size, "error": f"{type(error).__name__}: {error}"})
        log(f"[pipeline] synthfer {size}: {results['synthfer'][-1]}")
    try:
        results["preprocessing"] = preprocessing_rate(n=8 if quick else 32)
    except Exception as error:
        results["preprocessing"] = {"error": f"{type(error).__name__}: {error}"}
    log(f"[pipeline] preprocessing: {results['preprocessing']}")
    return results
