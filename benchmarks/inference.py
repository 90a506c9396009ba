"""Inference: every classification preset as Keras model, SavedModel and TFLite; per photo with
detection + alignment (`fer_zoo.Recognizer`); and the `fer` pip package on the same photos.

Everything runs in one process, one after the other, so the ratios hold even on a busy machine.
"""

import pathlib
import tempfile
import time

import numpy as np

from benchmarks.common import synthetic_photos, timed

BATCHES = (1, 32, 256)


def _rate(fn, batch, repeats):
    t = timed(fn, warmup=2, repeats=repeats)
    return {"batch": batch, "latency_ms": t["median_s"] * 1e3, "images_per_s": batch / t["median_s"],
            "first_ms": t["first_s"] * 1e3}


def load_preset(name):
    """A preset with its pretrained weights, or randomly initialised when it has none (the
    latency of a network does not depend on its weights)."""
    import fer_zoo
    from fer_zoo.zoo.loading import WeightsError

    try:
        return fer_zoo.load(name), "pretrained"
    except WeightsError:
        return fer_zoo.load(name, weights=None), "random-init"


def bench_preset(name, work_dir, quick=False, tflite=True):
    """Keras / SavedModel / TFLite latency and throughput of classification preset `name`."""
    import tensorflow as tf

    from fer_zoo.zoo import export

    model, weights = load_preset(name)
    meta = model.fer_zoo_metadata
    height, width = (int(v) for v in meta["input_size"])
    channels = int(meta["channels"])
    result = {"preset": name, "weights": weights, "input": [height, width, channels],
              "params": int(model.count_params()), "keras": [], "saved_model": [], "tflite": []}
    repeats = 3 if quick else 10
    rng = np.random.default_rng(0)
    batches = (1, 32) if quick else BATCHES

    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    for batch in batches:
        x = tf.constant(rng.uniform(-1, 1, (batch, height, width, channels)).astype(np.float32))
        result["keras"].append(_rate(lambda x=x: np.asarray(call(x)), batch, repeats))

    try:
        start = time.perf_counter()
        paths = export(model, work_dir, name=name, tflite=tflite, overwrite=True)
        result["export_s"] = time.perf_counter() - start
    except Exception as error:
        result["export_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
        return result
    loaded = tf.saved_model.load(paths["saved_model"])
    serve = loaded.signatures["predict_images"]
    for batch in batches:
        # The serving signatures take pixels in [0, 255] and resize/scale in the graph.
        x = tf.constant(rng.uniform(0, 255, (batch, height, width, channels)).astype(np.float32))
        result["saved_model"].append(_rate(lambda x=x: serve(images=x)["probabilities"].numpy(), batch, repeats))

    if tflite and "tflite" in paths:
        interpreter = tf.lite.Interpreter(model_path=paths["tflite"], num_threads=None)
        index = interpreter.get_input_details()[0]["index"]
        output = interpreter.get_output_details()
        for batch in batches:
            interpreter.resize_tensor_input(index, [batch, height, width, channels])
            interpreter.allocate_tensors()
            x = rng.uniform(0, 255, (batch, height, width, channels)).astype(np.float32)

            def invoke(x=x):
                interpreter.set_tensor(index, x)
                interpreter.invoke()
                return interpreter.get_tensor(output[0]["index"])

            result["tflite"].append(_rate(invoke, batch, repeats))
        result["tflite_bytes"] = pathlib.Path(paths["tflite"]).stat().st_size
    return result


def _accuracy(predicted_names, labels):
    """Share of photos whose (largest) face got the true expression; a missed face is wrong."""
    from fer_zoo.data.faceset import EXPRESSIONS

    return float(np.mean([name == EXPRESSIONS[y] for name, y in zip(predicted_names, labels)]))


def bench_recognizer(model, photos, labels, repeats=2):
    """Photos/s (one face each) through `fer_zoo.Recognizer`: detection, alignment, classification."""
    from fer_zoo.zoo import Recognizer

    recognizer = Recognizer(model)
    recognizer.predict(photos[0])  # traces the model call
    found = []

    def run():
        found.clear()
        for photo in photos:
            found.append(recognizer.predict(photo))

    t = timed(run, warmup=0, repeats=repeats)
    # The same photos classified one batch call after the detector: the share of detection.
    detect = timed(lambda: [recognizer.detector(p) for p in photos], warmup=0, repeats=repeats)
    faces = sum(len(r.faces) for r in found)
    largest = [max(r.faces, key=lambda f: f.box[2] * f.box[3]).label if r.faces else None for r in found]
    return {
        "photos": len(photos), "faces_found": faces, "ms_per_photo": t["median_s"] / len(photos) * 1e3,
        "photos_per_s": len(photos) / t["median_s"],
        "ms_per_face": t["median_s"] / max(faces, 1) * 1e3,
        "detect_align_ms_per_photo": detect["median_s"] / len(photos) * 1e3,
        "photos_with_face": sum(bool(r.faces) for r in found),
        "accuracy": _accuracy(largest, labels),
    }


def bench_fer_package(photos, labels=None, repeats=2):
    """The `fer` package (FER2013 mini-Xception + Haar cascade) on the same photos."""
    import cv2

    try:
        from fer.fer import FER
    except Exception as error:  # not installed, or its own imports fail
        return {"error": f"fer not importable: {type(error).__name__}: {error}"}
    detector = FER(mtcnn=False)
    bgr = [cv2.cvtColor(p, cv2.COLOR_RGB2BGR) for p in photos]
    detector.detect_emotions(bgr[0])
    found = []

    def run():
        found.clear()
        for image in bgr:
            found.append(detector.detect_emotions(image))

    t = timed(run, warmup=0, repeats=repeats)
    face_size = 64
    batch = np.zeros((32, face_size, face_size, 3), np.uint8)
    rects = [(0, 0, face_size, face_size)]
    # Classification alone on pre-cut faces: give fer the box so its detector is skipped.
    t_cls = timed(lambda: [detector.detect_emotions(b, face_rectangles=rects) for b in batch[:8]],
                  warmup=1, repeats=repeats)
    faces = sum(len(r) for r in found)
    out = {
        "photos": len(photos), "faces_found": faces,
        "ms_per_photo": t["median_s"] / len(photos) * 1e3, "photos_per_s": len(photos) / t["median_s"],
        "ms_per_face": t["median_s"] / max(faces, 1) * 1e3,
        "photos_with_face": sum(bool(r) for r in found),
        "classify_ms_per_face": t_cls["median_s"] / 8 * 1e3,
    }
    if labels is not None:
        largest = []
        for faces_in_photo in found:
            if not faces_in_photo:
                largest.append(None)
                continue
            face = max(faces_in_photo, key=lambda f: f["box"][2] * f["box"][3])
            largest.append(max(face["emotions"], key=face["emotions"].get))
        out["accuracy"] = _accuracy(largest, labels)
    return out


def fer2013_accuracy(path, preset=None, limit=700):
    """Accuracy of `fer` and (when given) of preset `preset` on FER2013 `path/<class>/*.jpg`."""
    import cv2

    path = pathlib.Path(path)
    classes = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    files, labels = [], []
    for index, name in enumerate(classes):
        for f in sorted((path / name).glob("*.jpg")):
            files.append(f)
            labels.append(index)
    if not files:
        raise FileNotFoundError(f"--fer2013 {path}: no <class>/*.jpg images found.")
    order = np.random.default_rng(0).permutation(len(files))[:limit]
    files = [files[i] for i in order]
    labels = np.asarray([labels[i] for i in order])
    grey = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
    out = {"images": len(files), "path": str(path)}
    try:
        from fer.fer import FER

        detector = FER(mtcnn=False)
        predicted = []
        for g in grey:
            image = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
            # FER2013 images are face crops already: the whole image is the face box.
            result = detector.detect_emotions(image, face_rectangles=[(0, 0, g.shape[1], g.shape[0])])
            scores = result[0]["emotions"] if result else {}
            predicted.append(classes.index(max(scores, key=scores.get)) if scores else -1)
        out["fer_accuracy"] = float(np.mean(np.asarray(predicted) == labels))
    except Exception as error:
        out["fer_error"] = f"{type(error).__name__}: {error}"
    if preset:
        from fer_zoo.zoo import Recognizer

        recognizer = Recognizer(preset, detector="cropped")
        results = recognizer.predict([cv2.cvtColor(g, cv2.COLOR_GRAY2RGB) for g in grey])
        names = [r.faces[0].label if r.faces else None for r in results]
        out["preset"] = preset
        out["preset_accuracy"] = float(np.mean([n == classes[y] for n, y in zip(names, labels)]))
    return out


def run(quick=False, fer2013=None, work_dir=None, log=print):
    import fer_zoo

    results = {"presets": [], "recognizer": [], "fer": None, "fer2013": None}
    work_dir = pathlib.Path(work_dir or tempfile.mkdtemp(prefix="fer_zoo_bench_"))
    presets = fer_zoo.list_models(task="classification")
    results["preset_names"] = presets
    for name in presets:
        try:
            results["presets"].append(bench_preset(name, work_dir / "export", quick))
        except Exception as error:
            results["presets"].append({"preset": name, "error": f"{type(error).__name__}: {str(error)[:300]}"})
        log(f"[inference] {name}: done")
    photos, labels = synthetic_photos(6 if quick else 24, seed=1)
    for name in presets:
        try:
            model, weights = load_preset(name)
            results["recognizer"].append({"preset": name, "weights": weights,
                                          **bench_recognizer(model, photos, labels, 1 if quick else 3)})
        except Exception as error:
            results["recognizer"].append({"preset": name, "error": f"{type(error).__name__}: {str(error)[:300]}"})
        log(f"[inference] recognizer {name}: {results['recognizer'][-1]}")
    results["fer"] = bench_fer_package(photos, labels, 1 if quick else 3)
    log(f"[inference] fer: {results['fer']}")
    if fer2013:
        preset = next((n for n in presets if "fer2013" in n), None)
        try:
            results["fer2013"] = fer2013_accuracy(fer2013, preset, limit=200 if quick else 1000)
        except Exception as error:
            results["fer2013"] = {"error": f"{type(error).__name__}: {error}"}
        log(f"[inference] fer2013: {results['fer2013']}")
    return results
