"""The general-purpose classifier: network, training entry point (tiny data), preset, default model."""

import json

import keras
import numpy as np
import pytest

from fer_zoo.data.faceset import EXPRESSIONS, FaceSet
from fer_zoo.recipes.general import train as general_train
from fer_zoo.recipes.general.models import build_general_classifier
from fer_zoo.testing import TestCase


class GeneralClassifierTest(TestCase):
    def test_probabilities_in_float32_under_mixed_precision(self):
        policy = keras.config.dtype_policy().name
        try:
            keras.config.set_dtype_policy("mixed_bfloat16")
            model = build_general_classifier(input_size=16, channels=1, widths=(4, 8), dense_units=8)
            out = model(np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 1)).astype("float32"))
        finally:
            keras.config.set_dtype_policy(policy)
        self.assertEqual(out.dtype, "float32")
        np.testing.assert_allclose(np.asarray(out).sum(-1), 1.0, atol=1e-5)

    def test_saving_and_export(self):
        model = build_general_classifier(input_size=16, channels=1, widths=(4, 8), dense_units=8)
        x = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 1)).astype("float32")
        self.run_model_saving_test(model, x)
        self.run_export_test(model, x)


    def test_flip_average_uses_the_plain_weights_and_is_mirror_invariant(self):
        tiny = {"input_size": 16, "channels": 1, "widths": (4, 8), "dense_units": 8}
        plain = build_general_classifier(**tiny)
        rng = np.random.default_rng(2)
        for weight in plain.weights:  # non-trivial batch-norm statistics too (variances > 0)
            values = rng.normal(0, 0.5, weight.shape).astype("float32")
            weight.assign(np.abs(values) + 0.5 if "variance" in weight.path else values)
        path = self.get_temp_dir() + "/plain.weights.h5"
        plain.save_weights(path)
        averaged = build_general_classifier(flip_average=True, **tiny)
        averaged.load_weights(path)  # the same layers: the plain model's file loads as is
        x = rng.uniform(-1, 1, (3, 16, 16, 1)).astype("float32")
        mirror = x[:, :, ::-1]
        expected = (plain.predict(x, verbose=0) + plain.predict(mirror, verbose=0)) / 2
        self.assertAllClose(averaged.predict(x, verbose=0), expected, atol=1e-5)
        self.assertAllClose(averaged.predict(mirror, verbose=0), expected, atol=1e-5)
        self.assertTrue(np.isfinite(expected).all())
        self.assertNotAllClose(plain.predict(x, verbose=0), plain.predict(mirror, verbose=0))
        self.run_model_saving_test(averaged, x)
        self.run_export_test(averaged, x)


def test_class_weights_lift_rare_classes_and_average_one():
    labels = np.array([0] * 90 + [1] * 10)
    weights = general_train.class_weights(labels, power=0.5, num_classes=2)
    assert weights[1] == pytest.approx(3 * weights[0])  # sqrt(90 / 10)
    assert weights[labels].mean() == pytest.approx(1.0)


def _tiny_data(path, size=48):
    rng = np.random.default_rng(0)

    def faces(n, identities=None):
        labels = {"expression": np.arange(n) % len(EXPRESSIONS)}
        if identities is not None:
            labels["identity"] = identities
            labels["yaw"] = np.zeros(n, np.float32)
        return FaceSet(rng.uniform(-1, 1, (n, size, size, 1)).astype("float32"), labels)

    faces(28).save(path / "fer2013_train.npz")
    faces(14).save(path / "fer2013_publictest.npz")
    faces(20, identities=np.repeat(np.arange(5), 4)).save(path / "kdef.npz")


def test_fit_trains_without_held_out_identities_and_resumes(tmp_path):
    _tiny_data(tmp_path)
    out = tmp_path / "run"
    summary = general_train.fit(tmp_path, out, epochs=1, precision="float32", heldout_identities=(1, 3),
                                batch_size=8, kdef_repeat=2)
    # 28 FER2013 + (20 - 8 held-out KDEF faces) x 2 repeats
    assert summary["train_faces"] == 28 + 12 * 2
    assert summary["kdef_heldout_flip"]["n"] == 8 and summary["fer2013_publictest_plain"]["n"] == 14
    assert set(summary["fer2013_publictest_flip"]["per_class"]) == set(EXPRESSIONS)
    assert json.loads((out / "summary.json").read_text())["train_faces"] == summary["train_faces"]
    assert (out / "final.weights.h5").exists()
    # A finished run leaves no backup; a re-run trains a second time from scratch only if asked.
    with pytest.raises(ValueError, match="Unknown option"):
        general_train.fit(tmp_path, out, epochs=1, nonsense=1)


def test_preset_is_the_default_and_its_crop_matches_training():
    import fer_zoo
    from fer_zoo.data.preprocessing import FacePreprocessor

    assert fer_zoo.DEFAULT_MODEL == "fer-general"
    info = fer_zoo.model_info("fer-general")
    assert info["class_names"] == list(EXPRESSIONS)
    recognizer = fer_zoo.Recognizer()
    assert recognizer.metadata["preprocessing"] == general_train.PREPROCESSING
    trained = general_train.face_preprocessor()
    assert isinstance(recognizer.detector, FacePreprocessor)
    for key in ("margin", "eye_y", "eye_distance", "align", "size", "channels"):
        assert getattr(recognizer.detector, key) == getattr(trained, key), key


def test_cnn2a_is_initialised_from_a_gasca2_normaliser_and_trains(tmp_path):
    import keras

    from fer_zoo.recipes.gasca.models import build_normalizer
    from fer_zoo.recipes.gasca.presets import KDEF_CONFIG

    # A "pre-trained" normaliser with recognisable encoder weights and its builder arguments.
    config = {k: v for k, v in KDEF_CONFIG.items() if k not in ("num_classes", "dropout")}
    normaliser = build_normalizer(**config)
    keras.utils.set_random_seed(1)
    for layer in normaliser.layers:
        layer.set_weights([np.full(w.shape, 0.01 * (i + 1), "float32") for i, w in enumerate(layer.get_weights())])
    normaliser.save_weights(str(tmp_path / "normalizer.weights.h5"))
    (tmp_path / "normalizer.json").write_text(json.dumps({"architecture": "gasca_normalizer", "config": config}))

    network = general_train.build_network("cnn2a")
    copied = general_train.initialise_from(network, tmp_path / "normalizer.weights.h5")
    assert copied == ["encoder_1", "encoder_2", "encoder_3", "encoder_4"]
    for name in copied:
        for mine, theirs in zip(network.get_layer(name).get_weights(), normaliser.get_layer(name).get_weights()):
            np.testing.assert_array_equal(mine, theirs)

    _tiny_data(tmp_path)
    summary = general_train.fit(tmp_path, tmp_path / "run", epochs=1, precision="float32", heldout_identities=(1,),
                                batch_size=8, architecture="cnn2a", init=tmp_path / "normalizer.weights.h5")
    assert summary["architecture"] == "cnn2a" and summary["initialised_layers"] == copied
    with pytest.raises(ValueError, match="architecture"):
        general_train.build_network("resnet")
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        general_train.initialise_from(network, tmp_path / "missing.weights.h5")


def test_distillation_targets_mix_label_and_softened_teacher():
    labels = np.array([0, 1])
    teacher = np.array([[0.1, 0.9], [0.5, 0.5]], np.float32)
    targets = general_train.distillation_targets(labels, teacher, weight=0.5, temperature=1.0, num_classes=2)
    np.testing.assert_allclose(targets, [[0.55, 0.45], [0.25, 0.75]], atol=1e-6)
    np.testing.assert_allclose(targets.sum(-1), 1.0, atol=1e-6)
    # T > 1 softens: the teacher's 0.1 / 0.9 becomes 0.25 / 0.75 at T = 2.
    soft = general_train.distillation_targets(labels[:1], teacher[:1], weight=1.0, temperature=2.0, num_classes=2)
    np.testing.assert_allclose(soft, [[0.25, 0.75]], atol=1e-6)
    np.testing.assert_array_equal(general_train.distillation_targets(labels, None, 0.0, 2.0, num_classes=2),
                                  np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError, match="distill_weight"):
        general_train.distillation_targets(labels, teacher, weight=1.5, temperature=2.0, num_classes=2)


def test_fit_distils_from_a_teacher(tmp_path):
    _tiny_data(tmp_path)
    teacher = general_train.build_network("general")
    teacher.save_weights(str(tmp_path / "teacher.weights.h5"))
    summary = general_train.fit(tmp_path, tmp_path / "run", epochs=1, precision="float32", heldout_identities=(1,),
                                batch_size=8, architecture="cnn2a", teacher=tmp_path / "teacher.weights.h5",
                                distill_weight=0.7)
    assert summary["teacher"].endswith("teacher.weights.h5")
    assert 0.0 <= summary["teacher_train_accuracy"] <= 1.0
    online = general_train.fit(tmp_path, tmp_path / "online", epochs=1, precision="float32", heldout_identities=(1,),
                               batch_size=8, architecture="cnn2a", teacher=tmp_path / "teacher.weights.h5",
                               distill_weight=1.0, distill_mode="online")
    assert online["config"]["distill_mode"] == "online" and online["teacher_train_accuracy"] is None
    with pytest.raises(ValueError, match="distill_mode"):
        general_train.fit(tmp_path, tmp_path / "run3", epochs=1, architecture="cnn2a",
                          teacher=tmp_path / "teacher.weights.h5", distill_weight=1.0, distill_mode="both")
    with pytest.raises(ValueError, match="distill_weight"):
        general_train.fit(tmp_path, tmp_path / "run4", epochs=1, architecture="cnn2a",
                          teacher=tmp_path / "teacher.weights.h5", distill_weight=1.5, distill_mode="online")
    # Half a request is an error, not a silent plain run.
    with pytest.raises(ValueError, match="teacher"):
        general_train.fit(tmp_path, tmp_path / "run2", epochs=1, architecture="cnn2a", distill_weight=0.7)
    with pytest.raises(FileNotFoundError, match="nowhere.weights.h5"):
        general_train.load_teacher(tmp_path / "nowhere.weights.h5")


def test_mixup_blends_faces_targets_and_weights_with_one_dominant_lambda():
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (6, 4, 4, 1)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 4, 5])
    targets = np.eye(7, dtype=np.float32)[labels]
    weights = np.arange(1, 7, dtype=np.float32)
    mixed_x, mixed_y, mixed_w = (np.asarray(t) for t in general_train.mixup(images, targets, weights, 0.4, seed=3))
    partner = labels[::-1]
    lam = mixed_y[np.arange(6), labels]
    # Each face keeps its own label dominant, and the partner gets the rest of the mass.
    assert np.all(lam >= 0.5) and np.all(lam <= 1.0) and np.any(lam < 0.99)
    np.testing.assert_allclose(mixed_y[np.arange(6), partner], 1 - lam, atol=1e-6)
    np.testing.assert_allclose(mixed_y.sum(-1), 1.0, atol=1e-6)
    # Image and weight use the same lambda as the target.
    np.testing.assert_allclose(mixed_x, lam[:, None, None, None] * images
                               + (1 - lam[:, None, None, None]) * images[::-1], atol=1e-5)
    np.testing.assert_allclose(mixed_w, lam * weights + (1 - lam) * weights[::-1], atol=1e-5)


def test_fit_with_mixup_trains_and_records_the_option(tmp_path):
    _tiny_data(tmp_path)
    summary = general_train.fit(tmp_path, tmp_path / "run", epochs=1, precision="float32", heldout_identities=(1,),
                                batch_size=8, architecture="cnn2a", mixup_alpha=0.2)
    assert summary["config"]["mixup_alpha"] == 0.2
    assert (tmp_path / "run" / "final.weights.h5").exists()


def test_online_distillation_targets_are_the_teachers_on_each_augmented_batch():
    # A "teacher" that always answers class 3 makes every online target class 3 at weight 1.
    inputs = keras.Input((8, 8, 1))
    always_three = keras.layers.Dense(7, kernel_initializer="zeros",
                                      bias_initializer=keras.initializers.Constant([0, 0, 0, 9, 0, 0, 0]),
                                      activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    teacher = keras.Model(inputs, always_three)
    images = np.zeros((16, 8, 8, 1), np.float32)
    labels = np.arange(16) % 7
    targets = np.eye(7, dtype=np.float32)[labels]
    batches = general_train._dataset(images, targets, np.ones(16, np.float32), 8, seed=0, augment=True,
                                     teacher=teacher, distill_weight=1.0, distill_temperature=1.0)
    for _, batch_targets, _ in batches:
        assert np.all(np.asarray(batch_targets).argmax(-1) == 3)
    half = general_train._dataset(images, targets, np.ones(16, np.float32), 16, seed=0, augment=False,
                                  teacher=teacher, distill_weight=0.5, distill_temperature=1.0)
    (_, half_targets, _), = list(half)
    half_targets = np.asarray(half_targets)
    np.testing.assert_allclose(half_targets.sum(-1), 1.0, atol=1e-5)
    assert np.all(half_targets[:, 3] >= 0.49)


def test_cnn2a_model_overrides_change_the_code_grid_and_are_checked():
    fine = general_train.build_network("cnn2a", {"shifting_units": [576, 144, 144]})
    assert fine.get_layer("encoder_1").output.shape[1:3] == (24, 24)
    assert fine.get_layer("encoder_2").output.shape[1:3] == (12, 12)
    assert general_train.build_network("cnn2a").get_layer("encoder_1").output.shape[1:3] == (12, 12)
    assert general_train.cnn2a_config("cnn2a_wide", shifting_units=[576, 144, 144])["filters"] == [32, 64, 64, 64]
    with pytest.raises(ValueError, match="shifting_units"):
        general_train.build_network("cnn2a", {"shifting_units": [500, 144, 144]})
    with pytest.raises(ValueError, match="widths"):
        general_train.build_network("cnn2a", {"widths": [1]})
    with pytest.raises(ValueError, match="CNN2a"):
        general_train.build_network("general", {"shifting_units": [576, 144, 144]})


def test_prepare_writes_the_pretraining_set_without_held_out_identities_or_full_profiles(tmp_path):
    _tiny_data(tmp_path)
    kdef = FaceSet.load(tmp_path / "kdef.npz")
    kdef.labels["yaw"] = np.tile(np.array([-90, -45, 0, 45], np.float32), 5)
    kdef.save(tmp_path / "kdef.npz")
    # The three source files exist, so prepare reads no data set (roots unused).
    counts = general_train.prepare("unused-kdef", "unused-fer2013", tmp_path, progress=lambda _: None)
    pretraining = FaceSet.load(tmp_path / general_train.PRETRAINING_FILE)
    # identities 0, 1, 3 (2 and 4 are held out) x yaws -45, 0, 45
    assert counts[general_train.PRETRAINING_FILE] == len(pretraining) == 9
    assert not np.isin(pretraining.labels["identity"], general_train.HELDOUT_IDENTITIES).any()
    assert set(pretraining.labels["yaw"].tolist()) == {-45.0, 0.0, 45.0}


def test_fit_adds_training_identities_clutter_crops_and_fine_tunes_from_weights(tmp_path):
    _tiny_data(tmp_path)
    first = general_train.fit(tmp_path, tmp_path / "first", epochs=1, precision="float32", heldout_identities=(1, 3),
                              batch_size=8, kdef_repeat=1)
    assert first["train_faces"] == 28 + 12
    rng = np.random.default_rng(1)
    identities = np.repeat(np.arange(5), 2)  # 2 crops per identity, 4 of them of held-out ones
    FaceSet(rng.uniform(-1, 1, (10, 48, 48, 1)).astype("float32"),
            {"expression": np.arange(10) % 7, "identity": identities, "yaw": np.zeros(10, np.float32)},
            name="kdef_clutter").save(tmp_path / general_train.CLUTTER_FILE)
    tuned = general_train.fit(tmp_path, tmp_path / "tuned", epochs=1, precision="float32", heldout_identities=(1, 3),
                              batch_size=8, kdef_repeat=1, clutter_repeat=2,
                              init=tmp_path / "first" / "final.weights.h5")
    assert tuned["train_faces"] == 28 + 12 + 6 * 2  # held-out identities' clutter crops stay out
    assert tuned["initialised_layers"] == ["all layers"]
    # Fixed distillation: the teacher reads each distinct face once, laid out like the repeats.
    distilled = general_train.fit(tmp_path, tmp_path / "distilled", epochs=1, precision="float32",
                                  heldout_identities=(1, 3), batch_size=8, kdef_repeat=2, clutter_repeat=2,
                                  teacher=tmp_path / "first" / "final.weights.h5", distill_weight=0.5)
    assert distilled["train_faces"] == 28 + 12 * 2 + 6 * 2 and 0 <= distilled["teacher_train_accuracy"] <= 1
    off = general_train.fit(tmp_path, tmp_path / "off", epochs=1, precision="float32", heldout_identities=(1, 3),
                            batch_size=8, kdef_repeat=1, clutter_repeat=0)
    assert off["train_faces"] == 28 + 12


def test_the_profile_verifier_keeps_the_same_people_out_as_every_preset():
    from fer_zoo.data import profile_verifier

    assert profile_verifier.HELDOUT_IDENTITIES == general_train.HELDOUT_IDENTITIES
    assert not set(profile_verifier.VALIDATION_IDENTITIES) & set(general_train.HELDOUT_IDENTITIES)
    assert general_train.CLUTTER_VALIDATION_IDENTITIES == profile_verifier.VALIDATION_IDENTITIES
