"""`Synthesizer`: controls -> model inputs from preset metadata, photos vs crops, sweeps, grids.

The tiny generator presets defined here (one per recipe layout) are also used by the export and
CLI tests (`registered_tiny_generator`).
"""

import contextlib
import pathlib

import cv2
import keras
import numpy as np
import pytest

from fer_zoo.zoo import _testing, loading, registry
from fer_zoo.zoo.synthesizer import AlignedFaces, Synthesizer, parse_controls

TINY_GENERATOR = "tiny_test_generator"
EXPRESSIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
POSES = [-90.0, -45.0, 0.0, 45.0, 90.0]
SIZE = 16


def build_tiny_generator(input_size=SIZE, channels=1, images=("image",), vectors=None):
    """Image inputs `images` and vector inputs `vectors` ({name: length}) -> image (tanh)."""
    s = input_size
    image_inputs = [keras.Input((s, s, channels), name=n) for n in images]
    vector_inputs = [keras.Input((int(size),), name=n) for n, size in (vectors or {}).items()]
    parts = []
    if image_inputs:
        x = image_inputs[0] if len(image_inputs) == 1 else keras.layers.Concatenate()(image_inputs)
        parts.append(keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="conv")(x))
    if vector_inputs:
        v = vector_inputs[0] if len(vector_inputs) == 1 else keras.layers.Concatenate()(vector_inputs)
        v = keras.layers.Dense(s * s * 2, activation="tanh", name="codes")(v)
        parts.append(keras.layers.Reshape((s, s, 2))(v))
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate(axis=-1)(parts)
    out = keras.layers.Conv2D(channels, 3, padding="same", activation="tanh", name="image_out")(x)
    return keras.Model(image_inputs + vector_inputs, out, name="tiny_generator")


INTENSITY_CODE = {"control": ["expression", "intensity"], "encoding": "intensity_code"}
# Layouts of the recipes' generators: (builder config, task, metadata["controls"] or None).
KINDS = {
    "jpem": ({"images": ["image"], "vectors": {"expression": 7, "pose": 5}}, "generation", {
        "inputs": {
            "image": {"control": "face"},
            "expression": {"control": "expression", "encoding": "one_hot"},
            "pose": {"control": "yaw", "encoding": "bins", "values": POSES},
        },
        "defaults": {"expression": "neutral", "yaw": 0.0},
    }),
    "normalizer": ({"images": ["image"], "vectors": {}}, "normalization", None),
    "fesr_decoder": ({"images": [], "vectors": {"latent": 8, "expression_code": 7}}, "generation", {
        "inputs": {
            "latent": {"control": "latent", "encoding": "uniform", "size": 8},
            "expression_code": INTENSITY_CODE,
        },
        "defaults": {"expression": "neutral", "intensity": 1.0},
    }),
    "fesr_editor": ({"images": ["image"], "vectors": {"expression_code": 7}}, "generation", {
        "inputs": {"image": {"control": "face"}, "expression_code": INTENSITY_CODE},
        "defaults": {"expression": "neutral", "intensity": 1.0},
    }),
    "relgan": ({"images": ["target", "source"], "vectors": {}}, "generation", {
        "inputs": {"target": {"control": "face"}, "source": {"control": "expression_from"}},
    }),
}


def tiny_generator_preset(kind):
    config, task, controls = KINDS[kind]
    metadata = {
        "task": task,
        "description": f"Tiny test generator ({kind} layout).",
        "input_size": [SIZE, SIZE],
        "channels": 1,
        "class_names": list(EXPRESSIONS),
        "input_range": [-1, 1],
        "preprocessing": {"align": True, "margin": 0.25},
        "licence": "CC0",
    }
    if controls is not None:
        metadata["controls"] = controls
    return {"architecture": TINY_GENERATOR, "config": dict(config), "weights": None,
            "sha256": None, "metadata": metadata}


@contextlib.contextmanager
def registered_tiny_generator(name, tmp_dir, kind="jpem", seed=0):
    """Context: preset `name` (a tiny generator of `kind`, seeded weights behind a file:// URL)
    registered and KERAS_HOME in `tmp_dir`; yields the loaded model."""
    tmp_dir = pathlib.Path(tmp_dir)
    with _testing.keras_home(tmp_dir / "keras_home"):
        try:
            registry.register_architecture(TINY_GENERATOR, build_tiny_generator, overwrite=True)
            preset = tiny_generator_preset(kind)
            keras.utils.set_random_seed(seed)
            path = tmp_dir / "weights" / f"{name}.weights.h5"
            path.parent.mkdir(parents=True, exist_ok=True)
            build_tiny_generator(**preset["config"]).save_weights(path)
            preset.update(weights=path.resolve().as_uri(), sha256=loading.sha256(path))
            registry.register_preset(name, preset, overwrite=True)
            yield loading.load(name)
        finally:
            registry.unregister(name)


def face_photo(identity=3, expression="happy", canvas=(240, 320), at=(60, 150)):
    """A SynthFER face (96 px, RGB uint8) rendered into a larger grey image, and the face."""
    from fer_zoo.data.synthfer import SynthFER

    face = SynthFER(image_size=96, channels=3, seed=0).render(identity=identity, expression=expression)
    face = np.round((face + 1.0) * 127.5).astype(np.uint8)
    photo = np.full((*canvas, 3), 200, np.uint8)
    photo[at[0] : at[0] + 96, at[1] : at[1] + 96] = face
    return photo, face


@pytest.fixture(scope="module")
def generators(tmp_path_factory):
    """{kind: Synthesizer} for every layout in KINDS."""
    with contextlib.ExitStack() as stack:
        out = {}
        for i, kind in enumerate(KINDS):
            model = stack.enter_context(registered_tiny_generator(
                f"syn_test_{kind}", tmp_path_factory.mktemp(kind), kind=kind, seed=i))
            out[kind] = Synthesizer(model)
        yield out


def _crops(n, seed=0, size=SIZE):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 1)).astype(np.uint8)


def test_controls_come_from_the_metadata(generators):
    assert generators["jpem"].controls == ("expression", "yaw")
    assert generators["normalizer"].controls == ()  # no metadata["controls"]: image in, image out
    assert generators["fesr_decoder"].controls == ("expression", "intensity")
    assert generators["fesr_editor"].controls == ("expression", "intensity")
    assert generators["relgan"].controls == ("expression_from",)
    assert not generators["fesr_decoder"].takes_faces and generators["fesr_editor"].takes_faces
    info = generators["jpem"].describe()
    assert info["yaw"]["choices"] == POSES and info["expression"]["default"] == "neutral"


def test_output_shape_range_and_dependence_on_controls_and_input(generators):
    syn = generators["jpem"]
    faces = _crops(3)
    out = syn.generate(faces, expression="happy", yaw=0.0, cropped=True)
    assert out.shape == (3, SIZE, SIZE, 1) and out.dtype == np.float32
    assert out.min() >= -1.0 and out.max() <= 1.0
    sad = syn.generate(faces, expression="sad", yaw=0.0, cropped=True)
    assert np.abs(out - sad).max() > 1e-3  # the expression changes the output
    turned = syn.generate(faces, expression="happy", yaw=45.0, cropped=True)
    assert np.abs(out - turned).max() > 1e-3
    assert np.abs(out[0] - out[1]).max() > 1e-3  # ... and so does the face
    # yaw snaps to the nearest trained pose; names are case-insensitive; indices work.
    np.testing.assert_array_equal(syn.generate(faces, expression="HAPPY", yaw=30.0, cropped=True),
                                  turned)
    np.testing.assert_array_equal(syn.generate(faces, expression=3, yaw=45, cropped=True), turned)
    # Crops of any size are resized to the model input.
    assert syn.generate(_crops(2, size=40), cropped=True).shape == (2, SIZE, SIZE, 1)


def test_controls_broadcast_one_value_or_one_per_face(generators):
    syn = generators["jpem"]
    faces = _crops(2, seed=1)
    mixed = syn.generate(faces, expression=["happy", "sad"], yaw=[0.0, -45.0], cropped=True)
    np.testing.assert_allclose(mixed[0], syn.generate(faces[:1], expression="happy", cropped=True)[0],
                               atol=1e-6)
    np.testing.assert_allclose(
        mixed[1], syn.generate(faces[1:], expression="sad", yaw=-45, cropped=True)[0], atol=1e-6)
    with pytest.raises(ValueError, match="3 values for 2 faces"):
        syn.generate(faces, expression=["happy", "sad", "fear"], cropped=True)


def test_inputs_are_built_as_the_metadata_says(generators):
    syn = generators["jpem"]
    faces = _crops(2, seed=2)
    out = syn.generate(faces, expression=["fear", "surprise"], yaw=[90, -90], cropped=True)
    x = faces.astype(np.float32) / 127.5 - 1.0
    expected = syn.model.predict(
        [x, np.eye(7, dtype=np.float32)[[2, 6]], np.eye(5, dtype=np.float32)[[4, 0]]], verbose=0)
    np.testing.assert_allclose(out, expected, atol=1e-5)

    from fer_zoo.layers import ExpressionIntensityCode

    fesr = generators["fesr_decoder"]
    latent = np.random.default_rng(0).uniform(-1, 1, (2, 8)).astype(np.float32)
    out = fesr.generate(latent=latent, expression=["happy", "sad"], intensity=[0.3, 1.0])
    code = keras.ops.convert_to_numpy(
        ExpressionIntensityCode(7)(np.array([3, 5]), intensity=np.array([0.3, 1.0], np.float32)))
    np.testing.assert_allclose(out, fesr.model.predict([latent, code], verbose=0), atol=1e-5)


def test_unsupported_controls_and_bad_values_say_what_is_valid(generators):
    faces = _crops(1)
    with pytest.raises(ValueError, match=r"does not take 'intensity'; its controls are: expression, yaw"):
        generators["jpem"].generate(faces, intensity=0.5, cropped=True)
    with pytest.raises(ValueError, match="takes no controls"):
        generators["normalizer"].generate(faces, yaw=0.0, cropped=True)
    with pytest.raises(ValueError, match=r"does not take 'yaw'.*expression, intensity"):
        generators["fesr_editor"].generate(faces, yaw=0.0, cropped=True)
    with pytest.raises(ValueError, match="Unknown expression 'joy'.*angry, disgust, fear, happy"):
        generators["jpem"].generate(faces, expression="joy", cropped=True)
    with pytest.raises(ValueError, match="out of range"):
        generators["jpem"].generate(faces, expression=7, cropped=True)
    with pytest.raises(ValueError, match=r"yaw=130 is more than 22.5 .*-90, -45, 0, 45, 90"):
        generators["jpem"].generate(faces, yaw=130, cropped=True)
    with pytest.raises(ValueError, match=r"intensity must be .* in \[0.0, 1.0\]"):
        generators["fesr_editor"].generate(faces, intensity=1.5, cropped=True)


def test_photos_are_detected_and_aligned_like_the_recognizer(generators, tmp_path):
    syn = generators["jpem"]
    photo, _ = face_photo()
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    aligned = syn.align([path, photo])
    assert aligned.sources == [str(path), "<array #1>"] and aligned.cropped == [False, False]
    (x, y, w, h) = aligned.boxes[0]
    assert 130 <= x <= 170 and 40 <= y <= 90 and 50 <= w <= 110  # the face, not the canvas
    crop = syn.detector(photo)[0][1]  # the preset's FacePreprocessor (margin, alignment)
    np.testing.assert_allclose(aligned.images[1], crop, atol=1e-6)
    from_photo = syn.generate(path, expression="surprise")
    from_crop = syn.generate(crop, expression="surprise", cropped=True)
    np.testing.assert_allclose(from_photo, from_crop, atol=1e-5)
    # Taking the whole photo as a crop is a different (wrong) input.
    assert np.abs(syn.generate(photo, expression="surprise", cropped=True) - from_photo).max() > 1e-3
    # An AlignedFaces is used as is.
    np.testing.assert_allclose(syn.generate(aligned, expression="surprise")[0], from_photo[0],
                               atol=1e-6)


def test_a_photo_without_a_face_raises_naming_it_or_is_skipped(generators, tmp_path):
    syn = generators["jpem"]
    photo, _ = face_photo()
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 260, 3), 128, np.uint8))
    with pytest.raises(ValueError, match=r"No face found in .*blank.png.*cropped=True"):
        syn.generate([photo, blank])
    out = syn.generate([blank, photo], expression=["sad", "happy"], on_no_face="skip")
    assert out.shape == (1, SIZE, SIZE, 1)
    np.testing.assert_allclose(out, syn.generate(photo, expression="happy"), atol=1e-6)
    aligned = syn.align([blank, photo], on_no_face="skip")
    assert aligned.skipped == [str(blank)] and list(aligned.indices) == [1] and aligned.count == 2
    # A small image without a detectable face is taken whole as a crop (as the Recognizer does).
    small = syn.align(np.full((40, 40), 90, np.uint8))
    assert small.cropped == [True]


def test_decoder_only_renders_new_identities_and_cannot_edit_faces(generators):
    fesr = generators["fesr_decoder"]
    with pytest.raises(ValueError, match="cannot edit a given face.*decoder only"):
        fesr.generate(_crops(1), expression="happy")
    a = fesr.generate(num=3, seed=0, expression="happy")
    assert a.shape == (3, SIZE, SIZE, 1)
    np.testing.assert_array_equal(a, fesr.generate(num=3, seed=0, expression="happy"))
    assert np.abs(a - fesr.generate(num=3, seed=1, expression="happy")).max() > 1e-3
    assert np.abs(a - fesr.generate(num=3, seed=0, expression="sad")).max() > 1e-3
    assert np.abs(a - fesr.generate(num=3, seed=0, expression="happy", intensity=0.2)).max() > 1e-3
    assert fesr.generate(seed=0, expression=["happy", "sad"]).shape[0] == 2  # one per value
    with pytest.raises(ValueError, match="only for decoders"):
        generators["jpem"].generate(_crops(1), seed=0, cropped=True)


def test_reenactment_takes_the_expression_from_other_faces(generators):
    relgan = generators["relgan"]
    targets, sources = _crops(2, seed=3), _crops(2, seed=4)
    with pytest.raises(ValueError, match="needs expression_from"):
        relgan.generate(targets, cropped=True)
    out = relgan.generate(targets, expression_from=sources, cropped=True)
    assert out.shape == (2, SIZE, SIZE, 1)
    x, s = targets / 127.5 - 1.0, sources / 127.5 - 1.0
    np.testing.assert_allclose(out, relgan.model.predict([x, s], verbose=0), atol=1e-5)
    one = relgan.generate(targets, expression_from=sources[1], cropped=True)  # broadcast
    np.testing.assert_allclose(one[1], out[1], atol=1e-6)
    assert np.abs(one[0] - out[0]).max() > 1e-3
    with pytest.raises(ValueError, match="does not take 'expression'"):
        relgan.generate(targets, expression="happy", expression_from=sources, cropped=True)


def test_sweep_and_grid(generators):
    syn = generators["jpem"]
    faces = _crops(2, seed=5)
    out, values = syn.sweep(faces, "expression", yaw=45.0, cropped=True)
    assert out.shape == (2, 7, SIZE, SIZE, 1) and values == list(EXPRESSIONS)
    np.testing.assert_allclose(out[:, 3], syn.generate(faces, expression="happy", yaw=45.0,
                                                       cropped=True), atol=1e-6)
    out, values = syn.sweep(faces, "yaw", expression="sad", cropped=True)
    assert out.shape == (2, 5, SIZE, SIZE, 1) and values == POSES
    grid = syn.grid(faces, cropped=True, cell=20)
    # input | output | 7 expressions | 5 yaws, three gaps of 6 px, a 16 px header.
    assert grid.dtype == np.uint8 and grid.shape == (16 + 2 * 20, 14 * 20 + 3 * 6, 3)
    fesr = generators["fesr_decoder"]
    out, values = fesr.sweep(None, "intensity", num=2, seed=0, expression="happy")
    assert out.shape == (2, 5, SIZE, SIZE, 1) and values == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert fesr.grid(num=2, seed=0).shape == (16 + 2 * 64, 13 * 64 + 2 * 6, 3)  # no input column
    assert generators["normalizer"].grid(faces, cropped=True, cell=20).shape == (56, 46, 3)
    relgan_grid = generators["relgan"].grid(faces, expression_from=faces[:1], cropped=True, cell=20)
    assert relgan_grid.shape == (56, 3 * 20 + 2 * 6, 3)  # input | source | output


def test_classifiers_are_refused(tiny_model):
    with pytest.raises(ValueError, match="classification.*Recognizer"):
        Synthesizer(tiny_model)


def test_aligned_faces_concatenate(generators):
    syn = generators["jpem"]
    a, b = syn.align(_crops(2), cropped=True), syn.align(_crops(1, seed=9), cropped=True)
    both = AlignedFaces.concatenate([a, b])
    assert len(both) == 3 and both.count == 3 and list(both.indices) == [0, 1, 2]


@pytest.mark.parametrize("name, controls, takes_faces", [
    ("jpem-generator", ("expression", "yaw"), True),
    ("fesr-generator", ("expression", "intensity"), False),
    ("gasca2-normalizer", (), True),
])
def test_shipped_generator_presets_describe_their_controls(name, controls, takes_faces):
    model = loading.load(name, weights=None)
    inputs, defaults, _ = parse_controls(model, model.fer_zoo_metadata)
    syn = Synthesizer(model)
    assert syn.controls == controls and syn.takes_faces == takes_faces
    assert set(defaults) <= set(controls)
