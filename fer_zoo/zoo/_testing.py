"""Tiny registered classifier for the zoo's tests (CLI, export, Recognizer): builds in milliseconds."""

import contextlib
import os
import pathlib

import keras

from fer_zoo.zoo import loading, registry

TINY_ARCHITECTURE = "tiny_test_classifier"
EXPRESSIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def build_tiny_classifier(input_size=16, channels=1, num_classes=7, logits=False):
    inputs = keras.Input((input_size, input_size, channels), name="face")
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(
        num_classes, activation=None if logits else "softmax", name="expression"
    )(x)
    return keras.Model(inputs, outputs, name="tiny_classifier")


def tiny_preset(weights=None, sha256=None, input_size=16, channels=1, logits=False, **metadata):
    """A preset dict following the registry contract (docs/architecture.md)."""
    return {
        "architecture": TINY_ARCHITECTURE,
        "config": {"input_size": input_size, "channels": channels, "logits": logits},
        "weights": weights,
        "sha256": sha256,
        "metadata": {
            "task": "classification",
            "description": "Tiny test classifier.",
            "input_size": [input_size, input_size],
            "channels": channels,
            "class_names": list(EXPRESSIONS),
            "input_range": [-1, 1],
            "preprocessing": {"align": True, "margin": 0.15},
            "licence": "CC0",
            **metadata,
        },
    }


def register_tiny_preset(name, weights_dir, seed=0, **preset_kwargs):
    """Register preset `name` whose weights (seeded random init) are a URL to a file in `weights_dir`.

    Returns `(preset, weights_path)`. The weights are given as a `file://` URL, so `load(name)`
    runs the real download-verify-cache path without network.
    """
    registry.register_architecture(TINY_ARCHITECTURE, build_tiny_classifier, overwrite=True)
    preset = tiny_preset(**preset_kwargs)
    keras.utils.set_random_seed(seed)
    model = build_tiny_classifier(**preset["config"])
    path = weights_dir / f"{name}.weights.h5"
    weights_dir.mkdir(parents=True, exist_ok=True)
    model.save_weights(path)
    preset.update(weights=path.resolve().as_uri(), sha256=loading.sha256(path))
    registry.register_preset(name, preset, overwrite=True)
    return preset, path


@contextlib.contextmanager
def registered_tiny_model(name, tmp_dir, **preset_kwargs):
    """Context: preset `name` registered, KERAS_HOME in `tmp_dir`; yields the loaded model."""
    tmp_dir = pathlib.Path(tmp_dir)
    with keras_home(tmp_dir / "keras_home"):
        try:
            register_tiny_preset(name, tmp_dir / "weights", **preset_kwargs)
            yield loading.load(name)
        finally:
            registry.unregister(name)


@contextlib.contextmanager
def keras_home(path):
    """Context: KERAS_HOME (the weights cache `fer_zoo.load` downloads into) set to `path`."""
    previous = os.environ.get("KERAS_HOME")
    os.environ["KERAS_HOME"] = str(path)
    try:
        yield pathlib.Path(path)
    finally:
        if previous is None:
            os.environ.pop("KERAS_HOME", None)
        else:
            os.environ["KERAS_HOME"] = previous
