"""`load(name, weights=...)`: build a registered model and load verified weights into it.

Weights come from the preset's package-data file (SHA-256 checked), a local `.weights.h5` /
`.keras` file (`.keras` is opened with `safe_mode=True`, so no arbitrary code runs), another
preset of the same architecture, or a URL that is downloaded once into
`$KERAS_HOME/fer_zoo/` (default `~/.keras/fer_zoo/`) and checked against its SHA-256.
"""

import copy
import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.parse
import urllib.request
import warnings
import weakref

import numpy as np

from fer_zoo.zoo import registry

URL_SCHEMES = ("http", "https", "file", "ftp")
DEFAULT_INPUT_RANGE = (-1.0, 1.0)
EXPRESSIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


class WeightsError(ValueError):
    """Weights that cannot be used: missing, corrupted (hash mismatch) or incompatible."""


def sha256(path, chunk_size=1 << 20):
    """Hex SHA-256 digest of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir():
    """Download cache: `$KERAS_HOME/fer_zoo`, or `~/.keras/fer_zoo` when KERAS_HOME is unset."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return pathlib.Path(base) / "fer_zoo"


def is_url(value):
    return isinstance(value, str) and urllib.parse.urlparse(value).scheme in URL_SCHEMES


def _split_hash_fragment(url):
    """`https://host/f.weights.h5#sha256=abc` -> (`https://host/f.weights.h5`, `abc`)."""
    parsed = urllib.parse.urlparse(url)
    fragment = urllib.parse.parse_qs(parsed.fragment)
    digest = fragment.get("sha256", [None])[0]
    return urllib.parse.urlunparse(parsed._replace(fragment="")), digest


def download(url, sha256_hex=None, cache_subdir=None):
    """Fetch `url` into the cache once and return the local path.

    The file is verified against `sha256_hex` (also accepted as a `#sha256=<hex>` URL fragment);
    a cached copy whose hash does not match is fetched again, and a download that does not
    match is deleted and reported. Without a hash the file is cached by URL and a warning says
    it was not verified.
    """
    url, fragment_hash = _split_hash_fragment(url)
    expected = (sha256_hex or fragment_hash or "").lower() or None
    if sha256_hex and fragment_hash and sha256_hex.lower() != fragment_hash.lower():
        raise WeightsError(f"Conflicting SHA-256 for {url}: argument and URL fragment differ.")
    name = pathlib.PurePosixPath(urllib.parse.urlparse(url).path).name or "download"
    # The digest in the cached name keeps different files with the same name apart.
    key = expected[:16] if expected else hashlib.sha256(url.encode()).hexdigest()[:16]
    target_dir = cache_dir() / (cache_subdir or "downloads")
    target = target_dir / f"{key}-{name}"
    if target.exists() and (expected is None or sha256(target) == expected):
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=target_dir, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url) as response:
            shutil.copyfileobj(response, out)
        actual = sha256(tmp_name)
        if expected is not None and actual != expected:
            raise WeightsError(
                f"SHA-256 mismatch for {url}: expected {expected}, got {actual}. The download "
                "is corrupted or the file changed; it was not cached."
            )
        if expected is None:
            warnings.warn(
                f"Weights from {url} were not verified (no sha256 given); got SHA-256 {actual}.",
                stacklevel=3,
            )
        os.replace(tmp_name, target)
    except OSError as error:
        raise WeightsError(f"Could not download {url}: {error}") from error
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
    return target


def _verified_package_file(name, preset):
    file_name = preset["weights"]
    if is_url(file_name):
        return download(file_name, preset["sha256"], cache_subdir="weights")
    path = registry.WEIGHTS_DIR / file_name
    if not path.exists():
        shipped = sorted(p.name for p in registry.WEIGHTS_DIR.glob("*")) if registry.WEIGHTS_DIR.exists() else []
        raise WeightsError(
            f"Weights file {file_name!r} of preset {name!r} is not installed in "
            f"{registry.WEIGHTS_DIR} (shipped: {', '.join(shipped) or 'none'}). Reinstall "
            "fer_zoo, or pass weights=None for a randomly initialised model."
        )
    actual = sha256(path)
    if actual != preset["sha256"].lower():
        raise WeightsError(
            f"SHA-256 mismatch for {path} (preset {name!r}): expected {preset['sha256']}, got "
            f"{actual}. The file is corrupted or was replaced; reinstall fer_zoo."
        )
    return path


def _load_weights_file(model, path, compile):
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Weights file {str(path)!r} does not exist.")
    try:
        if path.name.endswith(".weights.h5"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.load_weights(path)
            # Keras only warns when parts of the model found nothing in the file; a model left
            # partly random would be a silent error.
            skipped = [str(w.message) for w in caught if "freshly-initialized" in str(w.message)]
            if skipped:
                raise ValueError(skipped[0])
        elif path.suffix == ".keras":
            import keras

            saved = keras.saving.load_model(path, compile=compile, safe_mode=True)
            saved_weights = saved.get_weights()
            expected = [tuple(w.shape) for w in model.get_weights()]
            found = [tuple(w.shape) for w in saved_weights]
            if expected != found:
                raise ValueError(
                    f"{len(found)} weight tensors with shapes {found[:4]}... do not match the "
                    f"architecture's {len(expected)} with shapes {expected[:4]}..."
                )
            model.set_weights(saved_weights)
        else:
            raise WeightsError(
                f"Unsupported weights file {str(path)!r}: use a '.weights.h5' or '.keras' file."
            )
    except WeightsError:
        raise
    except Exception as error:  # Keras raises ValueError/KeyError/OSError for mismatched files
        raise WeightsError(
            f"Weights in {str(path)!r} are incompatible with this architecture: {error}"
        ) from error


def infer_metadata(model, metadata=None):
    """Complete `metadata` with what the model itself tells (input size, channels, classes)."""
    metadata = copy.deepcopy(metadata or {})
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else None
    if shape is not None and len(shape) == 4:
        metadata.setdefault("input_size", [shape[1], shape[2]])
        metadata.setdefault("channels", shape[3])
    metadata.setdefault("input_range", list(DEFAULT_INPUT_RANGE))
    if "task" not in metadata:
        outputs = getattr(model, "outputs", None) or []
        is_vector = len(outputs) == 1 and len(outputs[0].shape) == 2
        metadata["task"] = "classification" if is_vector else "generation"
    if metadata["task"] == "classification" and not metadata.get("class_names"):
        n = model.outputs[0].shape[-1]
        metadata["class_names"] = list(EXPRESSIONS) if n == len(EXPRESSIONS) else [
            f"class_{i}" for i in range(n)
        ]
    return metadata


def attach_metadata(model, metadata):
    # object.__setattr__: Keras' attribute tracking would wrap the dict; it is plain data.
    object.__setattr__(model, "fer_zoo_metadata", copy.deepcopy(metadata))
    return model


def get_metadata(model):
    """The metadata attached by `load` (inferred from the model when absent)."""
    metadata = getattr(model, "fer_zoo_metadata", None)
    return copy.deepcopy(metadata) if metadata else infer_metadata(model)


def load(name, weights="default", compile=False, sha256=None):
    """Build model `name` and load its weights.

    Args:
        name: a preset or architecture name from `fer_zoo.list_models(include_architectures=True)`.
        weights: `"default"` (the preset's SHA-256-verified weights), `None` (random
            initialisation), the name of another preset with the same architecture, a local
            `.weights.h5` or `.keras` file, or an `http(s)://` / `file://` URL (downloaded once
            into `$KERAS_HOME/fer_zoo/weights`).
        compile: compile a classifier with sparse categorical cross-entropy and accuracy (for
            `model.evaluate`).
        sha256: expected SHA-256 of a URL's file (or append `#sha256=<hex>` to the URL).

    Returns:
        A `keras.Model` with `model.fer_zoo_metadata` (class names, input size, channels, input
        range, preprocessing, ...).

    Example:
    ```python
    model = fer_zoo.load("gasca2")
    model.fer_zoo_metadata["class_names"]
    scratch = fer_zoo.load("gasca2", weights=None)
    mine = fer_zoo.load("gasca2", weights="runs/gasca2/classifier.weights.h5")
    ```
    """
    preset = registry.get_preset(name)
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if weights == "default" and preset["weights"] is None:
        with_weights = [n for n in registry.list_models() if registry.get_preset(n)["weights"]]
        raise WeightsError(
            f"Model {name!r} has no pretrained weights. Use weights=None (CLI: --weights none) "
            f"for random initialisation or a weights file; presets with weights: "
            f"{', '.join(with_weights) or 'none'}."
        )
    builder = registry.get_builder(preset["architecture"])
    model = builder(**preset["config"])
    metadata = dict(preset["metadata"], name=name, architecture=preset["architecture"])
    if weights == "default":
        _load_weights_file(model, _verified_package_file(name, preset), compile)
        metadata["weights"] = preset["weights"]
    elif weights is None:
        metadata["weights"] = None
    elif isinstance(weights, str) and weights in registry.presets():
        other = registry.get_preset(weights)
        if (other["architecture"], other["config"]) != (preset["architecture"], preset["config"]):
            raise WeightsError(
                f"Preset {weights!r} ({other['architecture']} {other['config']}) does not share "
                f"the architecture of {name!r} ({preset['architecture']} {preset['config']})."
            )
        if other["weights"] is None:
            raise WeightsError(f"Preset {weights!r} has no pretrained weights.")
        _load_weights_file(model, _verified_package_file(weights, other), compile)
        metadata = dict(other["metadata"], name=weights, architecture=other["architecture"])
        metadata["weights"] = other["weights"]
    elif is_url(weights):
        _load_weights_file(model, download(weights, sha256, cache_subdir="weights"), compile)
        metadata["weights"] = weights
    elif isinstance(weights, str):
        if not os.path.exists(weights):
            raise WeightsError(
                f"weights={weights!r} is not a file, a URL, 'default', None or a preset name. "
                f"Presets: {', '.join(registry.presets()) or 'none'}."
            )
        _load_weights_file(model, weights, compile)
        metadata["weights"] = os.path.abspath(weights)
    else:
        raise TypeError(f"weights must be a string, a path or None, got {type(weights).__name__}.")
    metadata = infer_metadata(model, metadata)
    if compile and metadata["task"] == "classification":
        model.compile(
            loss="sparse_categorical_crossentropy" if _outputs_probabilities(model, metadata)
            else _logits_loss(),
            metrics=["accuracy"],
        )
    return attach_metadata(model, metadata)


def _logits_loss():
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _outputs_probabilities(model, metadata):
    """Whether the classifier already ends in a softmax (metadata `output` may say so)."""
    declared = metadata.get("output")
    if declared in ("probabilities", "logits"):
        return declared == "probabilities"
    return bool(model.layers) and _ends_in_softmax(model.layers[-1])


def _ends_in_softmax(layer):
    """Whether `layer` outputs probabilities: a softmax activation or layer, or an average of such
    outputs (a flip-averaged classifier ends in `keras.layers.Average` over two softmax passes;
    taking that average for logits applied a second softmax and flattened every probability)."""
    import keras

    if isinstance(layer, keras.layers.Average):
        inputs = layer.input if isinstance(layer.input, list | tuple) else [layer.input]
        producers = [getattr(tensor, "_keras_history", None) for tensor in inputs]
        return bool(producers) and all(p is not None and _ends_in_softmax(p[0]) for p in producers)
    if isinstance(layer, keras.Model):  # a nested model used as a layer: its own last layer
        return bool(layer.layers) and _ends_in_softmax(layer.layers[-1])
    activation = getattr(layer, "activation", None)
    if activation is keras.activations.softmax or isinstance(layer, keras.layers.Softmax):
        return True
    return getattr(activation, "__name__", "") == "softmax"


# ---------------------------------------------------------------------------------------------
# Input preparation shared by Recognizer, export and `fer-zoo evaluate`.


def to_model_input(images, metadata, source_range=(-1.0, 1.0)):
    """Resize, convert channels and rescale `images` (N,H,W,C) to what the model expects.

    `source_range` is the value range of `images`: (-1, 1) for fer_zoo FaceSets, (0, 255) for
    decoded photos.
    """
    import cv2

    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    height, width = (int(v) for v in metadata["input_size"])
    channels = int(metadata["channels"])
    out = np.empty((len(images), height, width, channels), np.float32)
    for i, image in enumerate(images):
        if image.shape[:2] != (height, width):
            interpolation = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
            image = cv2.resize(image, (width, height), interpolation=interpolation)
            if image.ndim == 2:
                image = image[..., None]
        out[i] = convert_channels(image, channels)
    low, high = source_range
    target_low, target_high = metadata.get("input_range", DEFAULT_INPUT_RANGE)
    return (out - low) / (high - low) * (target_high - target_low) + target_low


def convert_channels(image, channels):
    """(H,W,C) RGB/grey -> (H,W,channels), using the ITU-R 601 luma weights for RGB -> grey."""
    have = image.shape[-1]
    if have == channels:
        return image
    if have == 3 and channels == 1:
        return (image @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    if have == 1 and channels == 3:
        return np.repeat(image, 3, axis=-1)
    if have == 4:
        return convert_channels(image[..., :3], channels)
    raise ValueError(f"Cannot convert an image with {have} channels to {channels}.")


# Kept outside the model: a tf.function attribute would be tracked into later exports.
_FORWARD_CACHE = weakref.WeakKeyDictionary()


def _compiled_forward(model):
    forward = _FORWARD_CACHE.get(model)
    if forward is None:
        import tensorflow as tf

        names = [t.name.split(":")[0] for t in model.inputs] if isinstance(model.input, dict) else None

        def call(x):
            # A model built with named (dict) inputs takes its inputs by name, in `model.inputs` order.
            if names is not None and isinstance(x, list | tuple):
                x = dict(zip(names, x))
            return model(x, training=False)

        forward = tf.function(call, reduce_retracing=True)
        _FORWARD_CACHE[model] = forward
    return forward


class TFLiteForward:
    """A single-output Keras model converted to TFLite, called on batches of any size.

    For one or a few faces, the TFLite interpreter (XNNPACK kernels) costs about half of a
    TensorFlow `tf.function` call, whose runtime overhead dominates for the small presets
    (docs/performance.md). Conversion freezes the weights (about 1-2 s for the presets).
    Calls are serialised with a lock: an interpreter is not thread-safe.

    Args:
        model: a functional `keras.Model` with one image input and one output.
        weights: `"float32"` (the model's weights as they are) or `"int8"`: TFLite's dynamic-range
            quantisation (weights stored as int8, activations quantised per call by XNNPACK's
            int8 kernels). On fer-general it is ~4x faster per call than float32 and gives the same
            accuracy (docs/performance.md); the probabilities differ slightly from the model's.
    """

    WEIGHTS = ("float32", "int8")

    def __init__(self, model, weights="float32"):
        import contextlib
        import io
        import threading

        import tensorflow as tf

        if weights not in self.WEIGHTS:
            raise ValueError(f"TFLiteForward: weights must be one of {self.WEIGHTS}, got {weights!r}.")
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(f"TFLiteForward needs one input and one output; {model.name} has "
                             f"{len(model.inputs)} and {len(model.outputs)}.")
        # from_keras_model freezes the variables (from_concrete_functions would leave variable
        # reads that the interpreter runs as garbage); it prints an export summary: silence it.
        with contextlib.redirect_stdout(io.StringIO()):
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            if weights == "int8":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic range
            content = converter.convert()
        self.weights = weights
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's move-to-LiteRT notice
            self.interpreter = tf.lite.Interpreter(model_content=content)
        self.input = self.interpreter.get_input_details()[0]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        self.input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        self.batch = None
        self.lock = threading.Lock()

    def __call__(self, x):
        x = np.ascontiguousarray(x, np.float32)
        with self.lock:
            if x.shape[0] != self.batch:
                self.interpreter.resize_tensor_input(self.input["index"], [x.shape[0], *self.input_shape])
                self.interpreter.allocate_tensors()
                self.batch = x.shape[0]
            self.interpreter.set_tensor(self.input["index"], x)
            self.interpreter.invoke()
            return self.interpreter.get_tensor(self.output_index).copy()


_TFLITE_CACHE = weakref.WeakKeyDictionary()


def tflite_forward(model, weights="float32"):
    """The model's cached `TFLiteForward` with `weights` (converted on first use)."""
    forwards = _TFLITE_CACHE.setdefault(model, {})
    if weights not in forwards:
        forwards[weights] = TFLiteForward(model, weights)
    return forwards[weights]


# `predict_probabilities` runtimes: TensorFlow, TFLite float32, TFLite with int8 weights.
RUNTIMES = ("tf", "tflite", "tflite-int8")


def predict_probabilities(model, inputs, metadata=None, batch_size=64, runtime="tf"):
    """Class probabilities (N, K) float32 for prepared model inputs, in one batched call.

    `runtime`: `"tf"` (a cached `tf.function`), `"tflite"` (`tflite_forward(model)`) or
    `"tflite-int8"` (`tflite_forward(model, "int8")`: dynamic-range int8 weights).
    """
    metadata = metadata or get_metadata(model)
    if len(inputs) == 0:
        return np.zeros((0, len(metadata["class_names"])), np.float32)
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}.")
    # A compiled direct call: `model.predict` builds a data pipeline per call, which dominated
    # the per-photo latency of the Recognizer (about 50-100 ms of overhead per photo).
    if runtime == "tf":
        forward = _compiled_forward(model)
    else:
        forward = tflite_forward(model, "int8" if runtime == "tflite-int8" else "float32")
    chunks = [
        forward(np.asarray(inputs[i : i + batch_size], np.float32))
        for i in range(0, len(inputs), batch_size)
    ]
    if isinstance(chunks[0], dict):
        outputs = {k: np.concatenate([np.asarray(c[k]) for c in chunks]) for k in chunks[0]}
    elif isinstance(chunks[0], list | tuple):
        outputs = [np.concatenate([np.asarray(c[j]) for c in chunks]) for j in range(len(chunks[0]))]
    else:
        outputs = np.concatenate([np.asarray(c) for c in chunks])
    if isinstance(outputs, dict):
        outputs = outputs[metadata.get("output_name") or next(iter(outputs))]
    elif isinstance(outputs, list | tuple):
        outputs = outputs[0]
    outputs = np.asarray(outputs, np.float32)
    if not _outputs_probabilities(model, metadata):
        outputs = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
        outputs /= outputs.sum(axis=-1, keepdims=True)
    return outputs
