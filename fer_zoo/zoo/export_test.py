import importlib
import json

import cv2
import numpy as np
import pytest
import tensorflow as tf

export_module = importlib.import_module("fer_zoo.zoo.export")  # the package exports the function

try:
    import onnxruntime
    import tf2onnx  # noqa: F401

    ONNX_SKIP_REASON = None
except ImportError as error:  # optional extra: pip install 'fer_zoo[export]'
    ONNX_SKIP_REASON = f"tf2onnx/onnxruntime not importable: {error}"

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    paths = export_module.export(
        tiny_model, out, name="tiny", version=1, tflite=True, onnx=ONNX_SKIP_REASON is None
    )
    return out, paths, tf.saved_model.load(paths["saved_model"])


def _keras_probabilities(model, images_0_255):
    return model.predict(np.asarray(images_0_255, np.float32) / 127.5 - 1.0, verbose=0)


def _random_images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)


def test_tf_serving_layout_and_metadata(exported, tiny_model):
    out, paths, _ = exported
    version_dir = out / "tiny" / "1"
    assert paths["saved_model"] == str(version_dir)
    assert (version_dir / "saved_model.pb").exists() and (version_dir / "variables").is_dir()
    # Atomic write: no temporary directories left next to the version.
    assert [p.name for p in (out / "tiny").iterdir()] == ["1"]
    metadata = export_module.read_metadata(version_dir)
    assert metadata["class_names"] == tiny_model.fer_zoo_metadata["class_names"]
    assert metadata["input_size"] == [16, 16] and metadata["served_name"] == "tiny"
    assert json.loads((out / "tiny-v1.json").read_text()) == metadata


def test_existing_version_is_kept_unless_overwrite(exported, tiny_model, tmp_path):
    paths = export_module.export(tiny_model, tmp_path, name="m", version=3)
    marker = tmp_path / "m" / "3" / "marker"
    marker.write_text("old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_module.export(tiny_model, tmp_path, name="m", version=3)
    assert marker.exists()
    export_module.export(tiny_model, tmp_path, name="m", version=3, overwrite=True)
    assert not marker.exists() and (tmp_path / "m" / "3" / "saved_model.pb").exists()
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["3"]
    assert paths["saved_model"].endswith("3")
    with pytest.raises(ValueError, match="positive integer"):
        export_module.export(tiny_model, tmp_path, name="m", version=0)


def test_predict_images_matches_keras_for_any_size_and_channels(exported, tiny_model):
    _, _, loaded = exported
    predict = loaded.signatures["predict_images"]
    grey = _random_images((2, 16, 16, 1))
    outputs = predict(images=tf.constant(grey))
    expected = _keras_probabilities(tiny_model, grey)
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(outputs["class_index"].numpy(), expected.argmax(-1))
    names = np.array(tiny_model.fer_zoo_metadata["class_names"])
    assert [c.decode() for c in outputs["classes"].numpy()] == list(names[expected.argmax(-1)])

    rgb = _random_images((3, 40, 28, 3), seed=1)
    outputs = predict(images=tf.constant(rgb))
    resized = tf.image.resize(rgb @ LUMA[:, None], (16, 16), antialias=True).numpy()
    np.testing.assert_allclose(
        outputs["probabilities"].numpy(), _keras_probabilities(tiny_model, resized), atol=1e-5
    )


def test_serving_default_decodes_encoded_images_in_graph(exported, tiny_model):
    _, _, loaded = exported
    serve = loaded.signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["image_bytes"]
    grey = _random_images((16, 16), seed=2).astype(np.uint8)
    colour = _random_images((40, 30, 3), seed=3).astype(np.uint8)  # resized in the graph
    encoded = [
        cv2.imencode(".png", grey)[1].tobytes(),
        cv2.imencode(".png", cv2.cvtColor(colour, cv2.COLOR_RGB2BGR))[1].tobytes(),
        cv2.imencode(".jpg", cv2.cvtColor(colour, cv2.COLOR_RGB2BGR))[1].tobytes(),
    ]
    outputs = serve(image_bytes=tf.constant(encoded))
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (3, 7)
    colour_grey = tf.image.resize(colour.astype(np.float32) @ LUMA[:, None], (16, 16),
                                  antialias=True).numpy()
    expected = _keras_probabilities(tiny_model, np.stack([grey[..., None], colour_grey]))
    np.testing.assert_allclose(probabilities[:2], expected, atol=1e-4)
    np.testing.assert_allclose(probabilities[2].sum(), 1.0, rtol=1e-5)  # lossy JPEG: valid only


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_tflite_matches_saved_model(exported, tiny_model):
    _, paths, _ = exported
    interpreter = tf.lite.Interpreter(model_path=paths["tflite"])
    runner = interpreter.get_signature_runner()
    for shape, seed in (((2, 16, 16, 1), 4), ((1, 30, 22, 1), 5)):
        images = _random_images(shape, seed)
        outputs = runner(images=images)
        # TFLite's resize is plain bilinear (no antialiasing op in TFLite builtins).
        resized = tf.image.resize(images, (16, 16), antialias=False).numpy()
        expected = _keras_probabilities(tiny_model, resized)
        np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
        np.testing.assert_array_equal(outputs["class_index"], expected.argmax(-1))


@pytest.mark.skipif(ONNX_SKIP_REASON is not None, reason=ONNX_SKIP_REASON or "")
def test_onnx_matches_keras(exported, tiny_model):
    _, paths, _ = exported
    session = onnxruntime.InferenceSession(paths["onnx"], providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    images = _random_images((2, 24, 20, 1), seed=6)
    outputs = dict(zip(names, session.run(None, {session.get_inputs()[0].name: images})))
    probabilities = next(v for k, v in outputs.items() if "probabilities" in k)
    resized = tf.image.resize(images, (16, 16), antialias=False).numpy()
    np.testing.assert_allclose(probabilities, _keras_probabilities(tiny_model, resized), atol=1e-4)


def test_generator_without_controls_metadata_cannot_be_exported(tiny_model, tmp_path):
    import keras

    image, code = keras.Input((16, 16, 1)), keras.Input((7,))
    x = keras.layers.Concatenate()([image, keras.layers.Reshape((16, 16, 1))(
        keras.layers.Dense(256)(code))])
    generator = keras.Model([image, code], keras.layers.Conv2D(1, 3, padding="same")(x))
    with pytest.raises(ValueError, match=r"no metadata\['controls'\]"):
        export_module.export(generator, tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_mixed_precision_models_are_exported_in_float32(tiny_model, tmp_path):
    import keras

    from fer_zoo.zoo import _testing, loading

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = _testing.build_tiny_classifier()
    finally:
        keras.config.set_dtype_policy(previous)
    mixed.set_weights(tiny_model.get_weights())
    loading.attach_metadata(mixed, tiny_model.fer_zoo_metadata)
    assert mixed.layers[1].compute_dtype == "float16"
    float32 = export_module.as_float32(mixed)
    assert {layer.compute_dtype for layer in float32.layers[1:]} == {"float32"}
    assert float32.fer_zoo_metadata == tiny_model.fer_zoo_metadata
    paths = export_module.export(mixed, tmp_path, name="mixed", tflite=True)  # float16 ops would fail
    images = _random_images((2, 16, 16, 1), seed=7)
    runner = tf.lite.Interpreter(model_path=paths["tflite"]).get_signature_runner()
    np.testing.assert_allclose(
        runner(images=images)["probabilities"], _keras_probabilities(tiny_model, images), atol=1e-5
    )
    assert export_module.as_float32(tiny_model) is tiny_model


# -- generators: controls as named signature inputs --------------------------------------------


@pytest.fixture(scope="module")
def tiny_generators(tmp_path_factory):
    """{kind: Synthesizer} for the JPEM, FESR-decoder and REL-GAN layouts of the tiny generator."""
    import contextlib

    from fer_zoo.zoo.synthesizer import Synthesizer
    from fer_zoo.zoo.synthesizer_test import registered_tiny_generator

    with contextlib.ExitStack() as stack:
        yield {
            kind: Synthesizer(stack.enter_context(registered_tiny_generator(
                f"export_test_{kind}", tmp_path_factory.mktemp(kind), kind=kind, seed=i)))
            for i, kind in enumerate(("jpem", "fesr_decoder", "relgan"))
        }


def _generator_export(syn, out, name):
    paths = export_module.export(syn.model, out, name=name)
    return paths, tf.saved_model.load(paths["saved_model"])


def test_generator_export_takes_the_controls_as_named_inputs(tiny_generators, tmp_path):
    syn = tiny_generators["jpem"]
    paths, loaded = _generator_export(syn, tmp_path, "jpem")
    serve = loaded.signatures["serving_default"]
    assert sorted(serve.structured_input_signature[1]) == ["expression", "image", "yaw"]
    assert sorted(serve.structured_outputs) == ["image", "image_uint8"]
    metadata = export_module.read_metadata(paths["saved_model"])
    assert metadata["controls"]["inputs"]["pose"]["values"] == [-90.0, -45.0, 0.0, 45.0, 90.0]
    assert sorted(metadata["signatures"]) == ["generate_bytes", "serving_default"]

    images = _random_images((3, 16, 16, 1), seed=8).round()
    outputs = serve(image=tf.constant(images), expression=tf.constant([3, 5, 6]),
                    yaw=tf.constant([0.0, 30.0, -90.0]))
    expected = syn.generate(images.astype(np.uint8), expression=["happy", "sad", "surprise"],
                            yaw=[0.0, 45.0, -90.0], cropped=True)
    np.testing.assert_allclose(outputs["image"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(
        outputs["image_uint8"].numpy(), np.round((expected + 1) * 127.5).astype(np.uint8))
    # One control value for the whole batch.
    outputs = serve(image=tf.constant(images), expression=tf.constant([3]), yaw=tf.constant([45.0]))
    np.testing.assert_allclose(
        outputs["image"].numpy(),
        syn.generate(images.astype(np.uint8), expression="happy", yaw=45.0, cropped=True), atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="yaw farther than 22.5"):
        serve(image=tf.constant(images), expression=tf.constant([3]), yaw=tf.constant([130.0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expression index"):
        serve(image=tf.constant(images), expression=tf.constant([7]), yaw=tf.constant([0.0]))

    encoded = [cv2.imencode(".png", image)[1].tobytes() for image in images.astype(np.uint8)]
    outputs = loaded.signatures["generate_bytes"](
        image_bytes=tf.constant(encoded), expression=tf.constant([3]), yaw=tf.constant([0.0]))
    np.testing.assert_allclose(
        outputs["image"].numpy(),
        syn.generate(images.astype(np.uint8), expression="happy", yaw=0.0, cropped=True), atol=1e-5)
    with pytest.raises(ValueError, match="TFLite / ONNX export is for classifiers"):
        export_module.export(syn.model, tmp_path, name="jpem2", tflite=True)


def test_decoder_and_reenactment_exports(tiny_generators, tmp_path):
    fesr = tiny_generators["fesr_decoder"]
    _, loaded = _generator_export(fesr, tmp_path, "fesr")
    serve = loaded.signatures["serving_default"]
    assert sorted(serve.structured_input_signature[1]) == ["expression", "intensity", "latent"]
    assert "generate_bytes" not in loaded.signatures  # no face input
    latent = np.random.default_rng(1).uniform(-1, 1, (2, 8)).astype(np.float32)
    outputs = serve(latent=tf.constant(latent), expression=tf.constant([0, 4]),
                    intensity=tf.constant([0.5]))
    np.testing.assert_allclose(
        outputs["image"].numpy(),
        fesr.generate(latent=latent, expression=["angry", "neutral"], intensity=0.5), atol=1e-5)

    relgan = tiny_generators["relgan"]
    _, loaded = _generator_export(relgan, tmp_path, "relgan")
    serve = loaded.signatures["serving_default"]
    assert sorted(serve.structured_input_signature[1]) == ["expression_from", "image"]
    targets = _random_images((2, 16, 16, 1), seed=9).round()
    source = _random_images((1, 16, 16, 1), seed=10).round()
    outputs = serve(image=tf.constant(targets), expression_from=tf.constant(source))
    np.testing.assert_allclose(
        outputs["image"].numpy(),
        relgan.generate(targets.astype(np.uint8), expression_from=source[0].astype(np.uint8),
                        cropped=True), atol=1e-5)
