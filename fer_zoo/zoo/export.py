"""Export a classifier for deployment: TF Serving SavedModel, and optionally TFLite and ONNX.

Layout written by `export(model, "serving", name="gasca2", version=1, tflite=True, onnx=True)`:

```
serving/gasca2/1/              SavedModel (TF Serving scans serving/gasca2 for integer versions)
    saved_model.pb, variables/, assets.extra/fer_zoo_metadata.json
serving/gasca2-v1.tflite       float-tensor function (predict_images) for TFLite
serving/gasca2-v1.onnx         the same function for ONNX Runtime
serving/gasca2-v1.json         metadata (class names, input size/range, preprocessing)
```

Signatures of the SavedModel (see docs/serving.md):

* `serving_default`: input `image_bytes`, a batch of encoded JPEG/PNG/BMP/GIF strings. Decoding,
  grey/RGB conversion, resizing to the model's input size and scaling to its input range all run
  in the graph.
* `predict_images`: input `images`, float32 `(N, H, W, C)` of any size with C = 1 or 3 and
  values in [0, 255]; resized/converted/scaled in the graph.

Both return `probabilities` (float32 `(N, K)`), `class_index` (int32 `(N,)`) and `classes`
(the class names, string `(N,)`). Inputs are face crops: detection and alignment happen before
(the `Recognizer` or `fer_zoo.data.preprocessing.FacePreprocessor`).

Generators and normalisers (`task` "generation" / "normalization") are exported as a SavedModel
whose `serving_default` takes the image and the controls of `metadata["controls"]` as named
inputs (`image` in [0, 255], `expression` int32 index, `yaw` / `intensity` / `light` float32,
`expression_from`, or `latent` for a decoder), builds the codes in the graph and returns `image`
(float32 in [-1, 1]) and `image_uint8`; `generate_bytes` takes `image_bytes` instead of
`image`. See docs/synthesis.md.
"""

import json
import os
import pathlib
import shutil
import tempfile
import uuid

import keras
import numpy as np
import tensorflow as tf

from fer_zoo.zoo import loading

METADATA_FILE = "fer_zoo_metadata.json"
ONNX_OPSET = 17
# ITU-R BT.601 luma, as tf.image.rgb_to_grayscale and the Recognizer's NumPy path.
_LUMA = (0.299, 0.587, 0.114)


class _Preprocess:
    """In-graph resize, channel conversion and scaling from [0, 255] to the model's range."""

    def __init__(self, metadata, antialias):
        self.height, self.width = (int(v) for v in metadata["input_size"])
        self.channels = int(metadata["channels"])
        self.low, self.high = (float(v) for v in metadata.get("input_range", (-1, 1)))
        self.antialias = antialias

    def __call__(self, images):
        images = tf.cast(images, tf.float32)
        images = images[..., :3]  # drops an alpha channel; grey (C=1) is unchanged
        have = tf.shape(images)[-1]
        if self.channels == 1:
            # Weights [1] for grey input, the luma weights for RGB; no tf.cond so that TFLite and
            # ONNX get plain ops.
            weights = tf.where(have == 3, tf.constant(_LUMA), tf.constant((1.0, 0.0, 0.0)))
            images = tf.reduce_sum(images * weights[:have], axis=-1, keepdims=True)
        else:
            images = tf.tile(images, tf.stack([1, 1, 1, 3 // have]))
        images = tf.ensure_shape(images, [None, None, None, self.channels])
        images = tf.image.resize(
            images, (self.height, self.width), method="bilinear", antialias=self.antialias
        )
        return images / 255.0 * (self.high - self.low) + self.low


def _probabilities(model, metadata, inputs):
    outputs = model(inputs, training=False)
    if isinstance(outputs, dict):
        outputs = outputs[metadata.get("output_name") or next(iter(outputs))]
    elif isinstance(outputs, list | tuple):
        outputs = outputs[0]
    outputs = tf.cast(outputs, tf.float32)
    if not loading._outputs_probabilities(model, metadata):
        outputs = tf.nn.softmax(outputs, axis=-1)
    return outputs


def _signature_functions(model, metadata):
    class_names = tf.constant([str(c) for c in metadata["class_names"]])
    serving_preprocess = _Preprocess(metadata, antialias=True)
    portable_preprocess = _Preprocess(metadata, antialias=False)

    def outputs(probabilities, with_names=True):
        index = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        result = {"probabilities": probabilities, "class_index": index}
        if with_names:
            result["classes"] = tf.gather(class_names, index)
        return result

    def predict_images(images):
        return outputs(_probabilities(model, metadata, serving_preprocess(images)))

    def predict_bytes(image_bytes):
        def decode(data):
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
            image = tf.image.resize(
                tf.cast(image, tf.float32)[None],
                (serving_preprocess.height, serving_preprocess.width),
                antialias=True,
            )[0]
            return image

        images = tf.map_fn(
            decode, image_bytes,
            fn_output_signature=tf.TensorSpec(
                [serving_preprocess.height, serving_preprocess.width, 3], tf.float32
            ),
        )
        return outputs(_probabilities(model, metadata, serving_preprocess(images)))

    def predict_portable(images):
        # TFLite/ONNX: no string outputs, no antialiased resize (ScaleAndTranslate is not a
        # builtin op there).
        probabilities = _probabilities(model, metadata, portable_preprocess(images))
        return outputs(probabilities, with_names=False)

    return predict_bytes, predict_images, predict_portable


# ---------------------------------------------------------------------------------------------
# Generators: the controls as named signature inputs, their codes built in the graph.

# Signature input of each control (see docs/synthesis.md, "Export"): name, dtype, shape.
_CONTROL_SIGNATURE = {
    "face": ("image", tf.float32, [None, None, None, None]),
    "expression_from": ("expression_from", tf.float32, [None, None, None, None]),
    "expression": ("expression", tf.int32, [None]),
    "intensity": ("intensity", tf.float32, [None]),
    "yaw": ("yaw", tf.float32, [None]),
    "light": ("light", tf.float32, [None]),
}
_CONTROL_DOC = {
    "image": "faces, float32 (N, H, W, C) in [0, 255], any size, C = 1 or 3 (resized in graph)",
    "expression_from": "faces whose expression is copied, as `image` (1 or N)",
    "expression": "int32 (N,) or (1,): class index into class_names",
    "intensity": "float32 (N,) or (1,): expression intensity in [0, 1]",
    "yaw": "float32 (N,) or (1,): degrees, snapped to the nearest trained pose",
    "light": "float32 (N,) or (1,)",
    "latent": "float32 (N, size): identity codes (the decoder has no encoder)",
    "image_bytes": "encoded JPEG/PNG/BMP/GIF face crops, string (N,)",
    "expression_from_bytes": "encoded face crops whose expression is copied, string (N,) or (1,)",
}


def _decode_batch(image_bytes, height, width):
    """Encoded images (N,) -> float32 RGB (N, height, width, 3) in [0, 255], resized in graph."""

    def decode(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        return tf.image.resize(tf.cast(image, tf.float32)[None], (height, width), antialias=True)[0]

    return tf.map_fn(decode, image_bytes,
                     fn_output_signature=tf.TensorSpec([height, width, 3], tf.float32))


def _generator_functions(model, metadata):
    """`(generate, specs, generate_bytes, bytes_specs)`: signature functions taking a dict of the
    controls (named as in `_CONTROL_SIGNATURE`) and returning `image` (float32 in [-1, 1]) and
    `image_uint8`; `generate_bytes` is None for a decoder without face input."""
    from fer_zoo.zoo import synthesizer

    inputs, _, class_names = synthesizer.parse_controls(model, metadata)
    preprocess = _Preprocess(metadata, antialias=True)
    out_low, out_high = (float(v) for v in metadata.get(
        "output_range", metadata.get("input_range", (-1.0, 1.0))))
    specs = {}
    for spec in inputs:
        for source in spec.sources:
            if source == "latent":
                specs["latent"] = tf.TensorSpec([None, spec.size], tf.float32, name="latent")
            else:
                name, dtype, shape = _CONTROL_SIGNATURE[source]
                specs[name] = tf.TensorSpec(shape, dtype, name=name)

    def per_face(x, n):
        return tf.broadcast_to(x, tf.concat([[n], tf.shape(x)[1:]], axis=0))

    def encode(spec, values, n):
        if spec.encoding == "image":
            key = "image" if spec.sources == ("face",) else "expression_from"
            return per_face(preprocess(values[key]), n)
        if spec.encoding == "uniform":
            return values["latent"]
        if spec.encoding in ("one_hot", "intensity_code", "index"):
            index = per_face(values["expression"], n)
            k = len(class_names)
            with tf.control_dependencies([
                tf.debugging.assert_greater_equal(index, 0, message="expression index < 0"),
                tf.debugging.assert_less(index, k, message=f"expression index >= {k}"),
            ]):
                index = tf.identity(index)
            if spec.encoding == "index":
                return index[:, None] if spec.rank == 2 else index
            one_hot = tf.one_hot(index, k, dtype=tf.float32)
            if spec.encoding == "one_hot":
                return one_hot
            intensity = per_face(values["intensity"], n)
            with tf.control_dependencies([
                tf.debugging.assert_greater_equal(intensity, 0.0, message="intensity < 0"),
                tf.debugging.assert_less_equal(intensity, 1.0, message="intensity > 1"),
            ]):
                return intensity[:, None] * (2.0 * one_hot - 1.0)
        (control,) = spec.sources
        x = per_face(values[control], n)
        if spec.encoding == "bins":
            centres = tf.constant(spec.values, tf.float32)
            distance = tf.abs(x[:, None] - centres[None, :])
            with tf.control_dependencies([tf.debugging.assert_less_equal(
                tf.reduce_min(distance, axis=1), spec.tolerance + 1e-6,
                message=f"{control} farther than {spec.tolerance:g} from the trained values "
                f"{list(spec.values)}",
            )]):
                index = tf.argmin(distance, axis=1, output_type=tf.int32)
            return tf.one_hot(index, len(spec.values), dtype=tf.float32)
        return x[:, None] if spec.rank == 2 else x

    def generate(values):
        batch = values["image"] if "image" in values else values["latent"]
        n = tf.shape(batch)[0]
        outputs = model([encode(spec, values, n) for spec in inputs], training=False)
        if isinstance(outputs, dict):
            outputs = outputs[metadata.get("output_name") or next(iter(outputs))]
        elif isinstance(outputs, list | tuple):
            outputs = outputs[0]
        image = tf.cast(outputs, tf.float32)
        image = tf.clip_by_value((image - out_low) / (out_high - out_low) * 2.0 - 1.0, -1.0, 1.0)
        image_uint8 = tf.cast(tf.round((image + 1.0) * 127.5), tf.uint8)
        return {"image": image, "image_uint8": image_uint8}

    if "image" not in specs:
        return generate, specs, None, None
    bytes_specs = {k: v for k, v in specs.items() if k not in ("image", "expression_from")}
    bytes_specs["image_bytes"] = tf.TensorSpec([None], tf.string, name="image_bytes")
    if "expression_from" in specs:
        bytes_specs["expression_from_bytes"] = tf.TensorSpec(
            [None], tf.string, name="expression_from_bytes")

    def generate_bytes(values):
        values = dict(values)
        values["image"] = _decode_batch(values.pop("image_bytes"), preprocess.height, preprocess.width)
        if "expression_from_bytes" in values:
            values["expression_from"] = _decode_batch(
                values.pop("expression_from_bytes"), preprocess.height, preprocess.width)
        return generate(values)

    return generate, specs, generate_bytes, bytes_specs


def _json_metadata(metadata):
    return json.dumps(metadata, indent=2, sort_keys=True, default=_json_default)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _write_atomic_bytes(path, data):
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _resolve(model_or_name, weights):
    if isinstance(model_or_name, str):
        return loading.load(model_or_name, weights=weights)
    if not isinstance(model_or_name, keras.Model):
        raise TypeError(
            f"export() needs a keras.Model or a model name, got {type(model_or_name).__name__}."
        )
    return model_or_name


_LOW_PRECISION = ("float16", "bfloat16", "mixed_float16", "mixed_bfloat16")


def _float32_policies(config):
    if isinstance(config, dict):
        config = {k: _float32_policies(v) for k, v in config.items()}
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            config["config"] = dict(config["config"], name="float32")
        if config.get("dtype") in _LOW_PRECISION:
            config["dtype"] = "float32"
        if config.get("name") in _LOW_PRECISION:
            config["name"] = "float32"
        return config
    if isinstance(config, list):
        return [_float32_policies(v) for v in config]
    return config


def as_float32(model):
    """`model` itself when it computes in float32, else a float32 copy with the same weights.

    Models built under a `mixed_float16` / `mixed_bfloat16` policy (training on GPUs/TPUs)
    would put float16 ops into the exported graphs, which CPU serving runs slowly and TFLite
    does not support; the copy computes in float32 (variables are float32 in both).
    """
    layers = [layer for layer in model._flatten_layers() if layer is not model]
    if all(getattr(layer, "compute_dtype", "float32") == "float32" for layer in layers):
        return model
    config = _float32_policies(keras.saving.serialize_keras_object(model))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        copy = keras.saving.deserialize_keras_object(config)
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights([np.asarray(w, np.float32) if np.issubdtype(np.asarray(w).dtype, np.floating)
                      else w for w in model.get_weights()])
    if hasattr(model, "fer_zoo_metadata"):
        loading.attach_metadata(copy, model.fer_zoo_metadata)
    return copy


def export(
    model_or_name,
    out_dir,
    name=None,
    version=1,
    tflite=False,
    onnx=False,
    overwrite=False,
    weights="default",
):
    """Write a TF Serving SavedModel (and optionally TFLite / ONNX files) for a classifier, or a
    SavedModel for a generator / normaliser with its controls as named inputs (module docstring).

    Args:
        model_or_name: a `keras.Model` (metadata from `model.fer_zoo_metadata` when it was made
            by `fer_zoo.load`, otherwise inferred) or a registered model name.
        out_dir: the model base directory; the SavedModel goes to `out_dir/<name>/<version>/`.
        name: served model name (default: the preset name or `model.name`).
        version: positive integer version directory.
        tflite: also write `out_dir/<name>-v<version>.tflite` (classifiers only).
        onnx: also write `out_dir/<name>-v<version>.onnx` (needs `tf2onnx`; classifiers only).
        overwrite: replace an existing version directory.
        weights: weights for a model given by name (see `fer_zoo.load`).

    Returns:
        dict of written paths: `saved_model`, `metadata`, and `tflite` / `onnx` when requested.

    Example:
    ```python
    paths = fer_zoo.export("gasca2", "serving", version=1, tflite=True)
    # docker run -p 8501:8501 --mount type=bind,source=$PWD/serving/gasca2,target=/models/gasca2 \
    #   -e MODEL_NAME=gasca2 -t tensorflow/serving
    ```
    """
    model = _resolve(model_or_name, weights)
    metadata = loading.get_metadata(model)
    model = as_float32(model)
    generative = metadata.get("task") in ("generation", "normalization")
    if not generative and metadata.get("task") != "classification":
        raise ValueError(
            f"Only classifiers, generators and normalisers can be exported for serving; "
            f"{metadata.get('name', model.name)!r} is a {metadata.get('task')!r} model."
        )
    if generative and (tflite or onnx):
        raise ValueError(
            f"TFLite / ONNX export is for classifiers; {metadata.get('name', model.name)!r} is a "
            f"{metadata['task']} model: export the SavedModel only (tflite=False, onnx=False)."
        )
    if generative:
        from fer_zoo.zoo import synthesizer

        synthesizer.parse_controls(model, metadata)  # before anything is written
    name = name or metadata.get("name") or model.name
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive integer (TF Serving layout), got {version!r}.")
    if os.sep in name or (os.altsep and os.altsep in name) or name in ("", ".", ".."):
        raise ValueError(f"Invalid model name {name!r} for a directory.")
    base = pathlib.Path(out_dir) / name
    target = base / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} already exists; pass overwrite=True or choose another version."
        )
    base.mkdir(parents=True, exist_ok=True)
    metadata = dict(metadata, served_name=name, version=version)

    archive = keras.export.ExportArchive()
    archive.track(model)
    if generative:
        # Controls as named inputs, codes built in the graph (docs/synthesis.md, "Export").
        generate, specs, generate_bytes, bytes_specs = _generator_functions(model, metadata)
        archive.add_endpoint("serving_default", generate, input_signature=[specs])
        signatures = {"serving_default": {k: _CONTROL_DOC[k] for k in specs}}
        if generate_bytes is not None:
            archive.add_endpoint("generate_bytes", generate_bytes, input_signature=[bytes_specs])
            signatures["generate_bytes"] = {k: _CONTROL_DOC[k] for k in bytes_specs}
        metadata["signatures"] = signatures
    else:
        predict_bytes, predict_images, predict_portable = _signature_functions(model, metadata)
        archive.add_endpoint(
            "serving_default", predict_bytes,
            input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
        )
        archive.add_endpoint(
            "predict_images", predict_images,
            input_signature=[tf.TensorSpec([None, None, None, None], tf.float32, name="images")],
        )
    metadata_json = _json_metadata(metadata)

    # Written beside the final directory under a dot-name TF Serving ignores, then renamed into
    # place, so a server polling `base` never sees a half-written version.
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{version}-", dir=base))
    try:
        archive.write_out(str(tmp), verbose=False)
        (tmp / "assets.extra").mkdir(exist_ok=True)
        (tmp / "assets.extra" / METADATA_FILE).write_text(metadata_json)
        if target.exists():
            old = base / f".old-{version}-{uuid.uuid4().hex}"
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

    stem = pathlib.Path(out_dir) / f"{name}-v{version}"
    paths = {"saved_model": str(target), "metadata": str(stem) + ".json"}
    _write_atomic_bytes(pathlib.Path(paths["metadata"]), metadata_json.encode())
    portable_spec = tf.TensorSpec([None, None, None, int(metadata["channels"])], tf.float32, name="images")
    if tflite:
        paths["tflite"] = str(stem) + ".tflite"
        _export_tflite(predict_portable, portable_spec, model, pathlib.Path(paths["tflite"]))
    if onnx:
        paths["onnx"] = str(stem) + ".onnx"
        _export_onnx(predict_portable, portable_spec, pathlib.Path(paths["onnx"]))
    return paths


def _export_tflite(function, spec, model, path):
    # Through a temporary SavedModel: that converter path freezes the Keras variables into
    # constants (from_concrete_functions leaves READ_VARIABLE ops the interpreter cannot run).
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", function, input_signature=[spec])
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".tflite-") as tmp:
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["serving_default"])
        try:
            data = converter.convert()
        except Exception as error:  # the converter raises ConverterError and friends
            raise RuntimeError(f"TFLite conversion failed for {path.name}: {error}") from error
    _write_atomic_bytes(path, data)


def _export_onnx(function, spec, path):
    try:
        import tf2onnx
    except ImportError as error:
        raise ImportError(
            "ONNX export needs tf2onnx and onnxruntime: pip install 'fer_zoo[export]'."
        ) from error
    model_proto, _ = tf2onnx.convert.from_function(
        tf.function(function), input_signature=[spec], opset=ONNX_OPSET
    )
    _write_atomic_bytes(path, model_proto.SerializeToString())


def read_metadata(saved_model_dir):
    """The fer_zoo metadata stored with an exported SavedModel version directory."""
    path = pathlib.Path(saved_model_dir) / "assets.extra" / METADATA_FILE
    if not path.exists():
        raise FileNotFoundError(f"{saved_model_dir} has no {METADATA_FILE}; was it exported by fer_zoo?")
    return json.loads(path.read_text())
