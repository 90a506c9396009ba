import keras
import numpy as np
import pytest

from fer_zoo.zoo import _testing, loading, registry


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home"


@pytest.fixture
def tiny(tmp_path, keras_home):
    """Preset `load_test_tiny` whose weights are a file:// URL; yields (preset, weights path)."""
    preset, path = _testing.register_tiny_preset("load_test_tiny", tmp_path / "src", seed=1)
    yield preset, path
    registry.unregister("load_test_tiny")


def _weights_of(path, **config):
    model = _testing.build_tiny_classifier(**config)
    model.load_weights(path)
    return model.get_weights()


def _assert_same_weights(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_default_weights_download_once_into_keras_home_cache(tiny, keras_home):
    preset, source = tiny
    model = loading.load("load_test_tiny")
    _assert_same_weights(model.get_weights(), _weights_of(source))
    metadata = model.fer_zoo_metadata
    assert metadata["name"] == "load_test_tiny"
    assert metadata["class_names"] == list(_testing.EXPRESSIONS)
    assert metadata["input_range"] == [-1, 1]
    cached = list((keras_home / "fer_zoo" / "weights").glob("*load_test_tiny.weights.h5"))
    assert len(cached) == 1 and loading.sha256(cached[0]) == preset["sha256"]
    # Second load must come from the cache: the source is gone.
    expected = _weights_of(source)
    source.unlink()
    _assert_same_weights(loading.load("load_test_tiny").get_weights(), expected)


def test_url_with_wrong_hash_is_refused_and_not_cached(tmp_path, keras_home):
    preset, source = _testing.register_tiny_preset("bad_hash_tiny", tmp_path / "src")
    try:
        registry.register_preset(
            "bad_hash_tiny", dict(preset, sha256="0" * 64), overwrite=True
        )
        with pytest.raises(loading.WeightsError, match="SHA-256 mismatch"):
            loading.load("bad_hash_tiny")
        assert not list((keras_home / "fer_zoo").rglob("*.weights.h5"))
        # A user URL with a #sha256= fragment is checked the same way.
        with pytest.raises(loading.WeightsError, match="SHA-256 mismatch"):
            loading.load("bad_hash_tiny", weights=source.as_uri() + "#sha256=" + "1" * 64)
        model = loading.load("bad_hash_tiny", weights=source.as_uri(), sha256=loading.sha256(source))
        _assert_same_weights(model.get_weights(), _weights_of(source))
    finally:
        registry.unregister("bad_hash_tiny")


def test_package_weights_verified_by_sha256(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    registry.register_architecture(_testing.TINY_ARCHITECTURE, _testing.build_tiny_classifier,
                                   overwrite=True)
    model = _testing.build_tiny_classifier()
    model.save_weights(tmp_path / "pkg_tiny.weights.h5")
    digest = loading.sha256(tmp_path / "pkg_tiny.weights.h5")
    registry.register_preset(
        "pkg_tiny", _testing.tiny_preset(weights="pkg_tiny.weights.h5", sha256=digest)
    )
    try:
        _assert_same_weights(loading.load("pkg_tiny").get_weights(), model.get_weights())
        with open(tmp_path / "pkg_tiny.weights.h5", "ab") as handle:
            handle.write(b"tampered")
        with pytest.raises(loading.WeightsError, match="SHA-256 mismatch.*reinstall"):
            loading.load("pkg_tiny")
        (tmp_path / "pkg_tiny.weights.h5").unlink()
        with pytest.raises(loading.WeightsError, match="not installed"):
            loading.load("pkg_tiny")
    finally:
        registry.unregister("pkg_tiny")


def test_weights_none_path_keras_file_and_other_preset(tiny, tmp_path):
    _, source = tiny
    reference = _weights_of(source)
    random_model = loading.load("load_test_tiny", weights=None)
    assert random_model.fer_zoo_metadata["weights"] is None
    assert not np.array_equal(random_model.get_weights()[0], reference[0])

    from_h5 = loading.load("load_test_tiny", weights=str(source))
    _assert_same_weights(from_h5.get_weights(), reference)

    keras_file = tmp_path / "full.keras"
    from_h5.save(keras_file)
    from_keras = loading.load("load_test_tiny", weights=keras_file)
    _assert_same_weights(from_keras.get_weights(), reference)

    registry.register_preset("load_test_twin", tiny[0])
    try:
        twin = loading.load("load_test_tiny", weights="load_test_twin")
        _assert_same_weights(twin.get_weights(), reference)
        assert twin.fer_zoo_metadata["name"] == "load_test_twin"
    finally:
        registry.unregister("load_test_twin")


def test_incompatible_unsafe_or_unknown_weights_give_clear_errors(tiny, tmp_path):
    rgb = _testing.build_tiny_classifier(channels=3)
    rgb.save_weights(tmp_path / "rgb.weights.h5")
    with pytest.raises(loading.WeightsError, match="incompatible"):
        loading.load("load_test_tiny", weights=tmp_path / "rgb.weights.h5")

    # safe_mode: a .keras file with a Lambda (arbitrary code) is refused.
    inputs = keras.Input((16, 16, 1))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with pytest.raises(loading.WeightsError, match="(?i)safe_mode|lambda"):
        loading.load("load_test_tiny", weights=tmp_path / "lambda.keras")

    with pytest.raises(loading.WeightsError, match="load_test_tiny"):
        loading.load("load_test_tiny", weights="no_such_file_or_preset")
    with pytest.raises(loading.WeightsError, match="Unsupported weights file"):
        (tmp_path / "w.npz").write_bytes(b"x")
        loading.load("load_test_tiny", weights=tmp_path / "w.npz")
    with pytest.raises(registry.UnknownModelError, match="load_test_tiny"):
        loading.load("load_test_tinny")


def test_preset_without_weights_needs_explicit_none(keras_home):
    registry.register_architecture(_testing.TINY_ARCHITECTURE, _testing.build_tiny_classifier,
                                   overwrite=True)
    registry.register_preset("untrained_tiny", _testing.tiny_preset())
    try:
        with pytest.raises(loading.WeightsError, match="weights=None"):
            loading.load("untrained_tiny")
        assert loading.load("untrained_tiny", weights=None).output_shape == (None, 7)
    finally:
        registry.unregister("untrained_tiny")


def test_to_model_input_converts_size_channels_and_range():
    metadata = {"input_size": [16, 16], "channels": 1, "input_range": [0, 1]}
    rgb = np.zeros((2, 32, 24, 3), np.float32)
    rgb[..., 0] = 255.0  # pure red: luma 0.299
    out = loading.to_model_input(rgb, metadata, source_range=(0, 255))
    assert out.shape == (2, 16, 16, 1)
    np.testing.assert_allclose(out, 0.299, atol=1e-5)
    grey = np.full((1, 16, 16, 1), -1.0, np.float32)
    out = loading.to_model_input(grey, dict(metadata, channels=3, input_range=[-1, 1]))
    assert out.shape == (1, 16, 16, 3) and np.allclose(out, -1.0)


def test_logit_models_get_softmax_probabilities(keras_home):
    model = _testing.build_tiny_classifier(logits=True)
    metadata = loading.infer_metadata(model)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 1)).astype("float32")
    probabilities = loading.predict_probabilities(model, x, metadata)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    logits = model.predict(x, verbose=0)
    np.testing.assert_array_equal(probabilities.argmax(-1), logits.argmax(-1))


@pytest.mark.parametrize("logits", [False, True])
def test_flip_averaged_classifiers_are_not_softmaxed_twice(logits):
    # A flip-averaged network ends in `Average` over two passes: its output is probabilities when
    # the passes end in a softmax. Taking it for logits used to flatten every probability
    # (fer-general read a clear happy face as 0.29 instead of 0.91).
    from fer_zoo.layers.mirror import flip_averaged

    head = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(7, activation=None if logits else "softmax",
                                                                        kernel_initializer=keras.initializers.RandomNormal(0, 2, seed=0))])
    inputs = keras.Input((16, 16, 1))
    model = keras.Model(inputs, flip_averaged(head, inputs))
    metadata = loading.infer_metadata(model)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 1)).astype("float32")
    raw = model.predict(x, verbose=0)
    probabilities = loading.predict_probabilities(model, x, metadata)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    if logits:
        np.testing.assert_allclose(probabilities, np.exp(raw) / np.exp(raw).sum(-1, keepdims=True), rtol=1e-4)
    else:
        np.testing.assert_allclose(probabilities, raw, rtol=1e-5)
        assert probabilities.max() > 0.5  # not flattened towards 1/7
