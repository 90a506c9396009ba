"""The exported SavedModel as TF Serving sees it: a fresh TensorFlow-only process, the
`saved_model_cli` listing, and the REST request format documented in docs/serving.md.

Run `saved_model_cli show --dir DIR --all` yourself to read the same listing."""

import base64
import json
import pathlib
import re
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import tensorflow as tf

from fer_zoo.zoo import _testing

REPO = pathlib.Path(__file__).resolve().parents[1]
SERVING_DOC = REPO / "docs" / "serving.md"
SAVED_MODEL_CLI = pathlib.Path(sys.executable).parent / "saved_model_cli"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(keras model, version directory) of a tiny classifier exported as `tiny_served/1`."""
    import fer_zoo

    out = tmp_path_factory.mktemp("serving")
    with _testing.registered_tiny_model("tiny_served", out) as model:
        paths = fer_zoo.export(model, out / "models", version=1)
        yield model, pathlib.Path(paths["saved_model"])


def _png(image):
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.mark.slow
def test_fresh_tensorflow_process_and_saved_model_cli(served, tmp_path):
    """One child process (TensorFlow imports once): load with only TensorFlow and compare with
    Keras, then run the `saved_model_cli` console script (.venv/bin) on the same directory."""
    model, version_dir = served
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 16, 16, 1)).astype(np.float32)
    grey_uint8 = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    (tmp_path / "face.png").write_bytes(_png(grey_uint8))
    script = textwrap.dedent(
        f"""
        import runpy, sys
        import numpy as np
        import tensorflow as tf
        loaded = tf.saved_model.load({str(version_dir)!r})
        floats = loaded.signatures["predict_images"](
            images=tf.constant(np.load({str(tmp_path / "images.npy")!r})))
        data = open({str(tmp_path / "face.png")!r}, "rb").read()
        encoded = loaded.signatures["serving_default"](image_bytes=tf.constant([data]))
        assert not any(m.startswith("fer_zoo") for m in sys.modules), "fer_zoo was imported"
        np.savez({str(tmp_path / "out.npz")!r},
                 floats=floats["probabilities"].numpy(), index=floats["class_index"].numpy(),
                 classes=floats["classes"].numpy().astype(str),
                 encoded=encoded["probabilities"].numpy())
        print("=== saved_model_cli", flush=True)
        sys.argv = ["saved_model_cli", "show", "--dir", {str(version_dir)!r}, "--all"]
        runpy.run_path({str(SAVED_MODEL_CLI)!r}, run_name="__main__")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    expected = model.predict(images / 127.5 - 1.0, verbose=0)
    np.testing.assert_allclose(out["floats"], expected, atol=1e-5)
    np.testing.assert_array_equal(out["index"], expected.argmax(-1))
    names = np.array(model.fer_zoo_metadata["class_names"])
    np.testing.assert_array_equal(out["classes"], names[expected.argmax(-1)])
    expected_png = model.predict(grey_uint8[None, ..., None] / 127.5 - 1.0, verbose=0)
    np.testing.assert_allclose(out["encoded"], expected_png, atol=1e-5)

    listing = result.stdout.split("=== saved_model_cli", 1)[1]
    for text in ("signature_def['serving_default']", "signature_def['predict_images']",
                 "inputs['image_bytes']", "inputs['images']", "outputs['probabilities']",
                 "outputs['classes']", "outputs['class_index']", "DT_STRING"):
        assert text in listing, text


def _doc_request_bodies():
    """The JSON request bodies shown in docs/serving.md (```json blocks with "instances")."""
    text = SERVING_DOC.read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    return [json.loads(b) for b in blocks if '"instances"' in b]


def _serve_rest(loaded, body):
    """What TF Serving's REST predict does with a row-format body, enough to check our inputs.

    `{"b64": ...}` values become bytes; a bare value is allowed for single-input signatures,
    named inputs must match the signature's keys.
    """
    signature = loaded.signatures[body.get("signature_name", "serving_default")]
    input_names = list(signature.structured_input_signature[1])
    columns = {name: [] for name in input_names}

    def decode(value):
        if isinstance(value, dict) and set(value) == {"b64"}:
            return base64.b64decode(value["b64"])
        return value

    for instance in body["instances"]:
        if isinstance(instance, dict) and set(instance) != {"b64"}:
            assert set(instance) == set(input_names), (set(instance), input_names)
            for name in input_names:
                columns[name].append(decode(instance[name]))
        else:
            assert len(input_names) == 1
            columns[input_names[0]].append(decode(instance))
    outputs = signature(**{name: tf.constant(values) for name, values in columns.items()})
    rows = len(body["instances"])
    predictions = [
        {key: value.numpy()[i].tolist() if value.dtype != tf.string else value.numpy()[i].decode()
         for key, value in outputs.items()}
        for i in range(rows)
    ]
    return {"predictions": predictions}


def test_rest_request_bodies_of_the_docs_match_the_signature(served):
    model, version_dir = served
    loaded = tf.saved_model.load(str(version_dir))
    bodies = _doc_request_bodies()
    assert len(bodies) >= 2, "docs/serving.md shows the bare and the named request body"
    face = np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint8)
    encoded = base64.b64encode(_png(face)).decode()
    expected = model.predict(face[None, ..., None] / 127.5 - 1.0, verbose=0)[0]
    for body in bodies:
        # Put a real image where the docs show the placeholder.
        body = json.loads(re.sub(r'"b64": "[^"]*"', f'"b64": "{encoded}"', json.dumps(body)))
        response = _serve_rest(loaded, body)
        (prediction,) = response["predictions"]
        np.testing.assert_allclose(prediction["probabilities"], expected, atol=1e-5)
        assert prediction["classes"] == model.fer_zoo_metadata["class_names"][int(expected.argmax())]
        assert prediction["class_index"] == int(expected.argmax())
