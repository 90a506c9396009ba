import json
import pathlib

import keras
import numpy as np

from fer_zoo.data.faceset import FaceSet
from fer_zoo.recipes.fesr import presets
from fer_zoo.recipes.fesr.train import CONFIGS, train, triplet_dataset
from fer_zoo.testing import TestCase

TINY = {
    "image_size": 16,
    "batch_size": 8,
    "identity_epochs": 1,
    "pretrain_epochs": 1,
    "joint_epochs": 1,
    "light_cnn_widths": (4, 6, 8, 6, 6),
    "light_cnn_blocks": (1, 1, 1, 1),
    "embedding_dim": 16,
    "steps_per_epoch": 2,
    "validate": False,
}


def random_faces(n_ids=6, size=16):
    rng = np.random.default_rng(0)
    n = n_ids * 7 * 2
    return FaceSet(
        rng.uniform(-1, 1, (n, size, size, 1)).astype("float32"),
        {
            "expression": np.tile(np.arange(7), n_ids * 2),
            "identity": np.repeat(np.arange(n_ids), 14),
            "session": np.tile(np.repeat([0, 1], 7), n_ids),
            "yaw": np.zeros(n, "float32"),
        },
        name="random",
    )


class TrainTest(TestCase):
    def test_triplets_share_the_expression_and_differ_from_the_anchor(self):
        faces = random_faces(n_ids=2)
        batch = next(iter(triplet_dataset(faces, batch_size=len(faces), shuffle=False)))
        images = faces.images
        for x, y, p in zip(batch["image"].numpy(), batch["expression"].numpy(), batch["positive"].numpy()):
            match = np.nonzero(np.all(np.isclose(images, p), axis=(1, 2, 3)))[0]
            self.assertLen(match, 1)
            self.assertEqual(faces.labels["expression"][match[0]], y)
            self.assertFalse(np.allclose(x, p))

    def test_train_resume_and_preset_weights(self):
        out = pathlib.Path(self.get_temp_dir()) / "fesr"
        summary = train(random_faces(), out, variant="JL", verbose=0, **TINY)
        self.assertEqual(summary["precision"], "float32")
        self.assertIn("fallback", summary["identity_network"])
        self.assertEqual(set(summary["stages"]), {"identity", "pretrain", "joint"})
        for key in ("g_cls_fake_r", "intra_class", "r_cls_fake", "d_z_loss"):
            self.assertTrue(np.isfinite(summary["stages"]["joint"][key]), key)
        self.assertTrue(np.isfinite(summary["synthesis"]["psnr"]))
        self.assertGreater(summary["synthesis"]["pairs"], 0)
        self.assertEqual(json.loads((out / "summary.json").read_text())["variant"], "JL")
        # Every stage is done: a restart skips them and restores the same recognizer.
        again = train(random_faces(), out, variant="JL", verbose=0, **TINY)
        self.assertEqual(again["accuracy"], summary["accuracy"])

        # The saved recognizer loads safely and its weights fit the `fesr` preset builder given
        # the run's network config.
        trained = keras.models.load_model(summary["recognizer"], safe_mode=True)
        built = presets.build_fesr_recognizer(
            input_size=16, network="small", light_cnn_widths=TINY["light_cnn_widths"],
            light_cnn_blocks=TINY["light_cnn_blocks"], embedding_dim=TINY["embedding_dim"],
        )
        path = str(out / "r.weights.h5")
        trained.save_weights(path)
        built.load_weights(path)
        x = random_faces().images[:4]
        self.assertAllClose(built.predict(x, verbose=0), trained.predict(x, verbose=0), atol=1e-5)

    def test_augmented_triplets_flip_and_shift_but_keep_labels(self):
        faces = random_faces(n_ids=2)
        plain = next(iter(triplet_dataset(faces, batch_size=len(faces), shuffle=False)))
        keras.utils.set_random_seed(0)
        moved = next(iter(triplet_dataset(faces, batch_size=len(faces), shuffle=False, augment_shift=2)))
        self.assertAllEqual(moved["expression"], plain["expression"])
        self.assertEqual(moved["image"].shape, plain["image"].shape)
        changed = np.mean(np.any(np.abs(moved["image"].numpy() - faces.images) > 1e-6, axis=(1, 2, 3)))
        self.assertGreater(changed, 0.5)  # nearly every random face is flipped and/or shifted
        # Each output is a flipped and/or shifted copy of its own face: same pixel multiset
        # except the edge padding, so the means stay close.
        self.assertAllClose(moved["image"].numpy().mean(axis=(1, 2, 3)), faces.images.mean(axis=(1, 2, 3)),
                            atol=0.15)

    def test_trainable_trunk_learns_while_identity_features_stay_fixed(self):
        from fer_zoo.recipes.fesr.train import run

        out = pathlib.Path(self.get_temp_dir()) / "fesr_trunk"
        options = {**TINY, "recognizer_trunk_trainable": True, "augment": True, "augment_shift": 1,
                   "split_seed": 3, "joint_epochs": 2}
        summary, recipe = run(random_faces(), out, variant="BASELINE", verbose=0, **options)
        trunk = recipe.recognizer_extractor.get_layer("light_cnn_trunk")
        self.assertNotEmpty(trunk.trainable_weights)
        f_id = recipe.identity_features
        self.assertEmpty(f_id.trainable_weights)
        # F_id is the identity network as trained in stage "identity"; R's trunk moved away from it.
        trunk_conv = trunk.get_layer("conv1_filter").get_weights()[0]
        f_id_conv = f_id.get_layer("conv1_filter").get_weights()[0]
        self.assertGreater(float(np.abs(trunk_conv - f_id_conv).max()), 1e-6)
        # split_seed fixes the held-out identities whatever the training seed.
        other = train(random_faces(), pathlib.Path(self.get_temp_dir()) / "fesr_trunk2", variant="BASELINE",
                      verbose=0, seed=1, **options)
        self.assertEqual(other["test_identities"], summary["test_identities"])

    def test_short_run_depends_on_input_and_logs_monitors(self):
        from fer_zoo.recipes.fesr.train import run

        out = pathlib.Path(self.get_temp_dir()) / "fesr_monitor"
        summary, recipe = run(random_faces(), out, variant="JL", verbose=0, **{**TINY, "pretrain_epochs": 2})
        for stage in ("pretrain", "joint"):
            history = json.loads((out / stage / "done.json").read_text())["history"]
            for key in ("output_spread", "target_spread", "dead_fraction"):
                self.assertTrue(np.all(np.isfinite(history[key])), f"{stage} {key}")
            self.assertIn("output_spread", (out / stage / "history.csv").read_text().splitlines()[0])
            self.assertGreater(summary["stages"][stage]["output_spread"], 1e-3)
        # Two clearly different faces, one target code (happy, intensity 1): different outputs.
        faces = np.stack([np.full((16, 16, 1), -0.8, "float32"), random_faces().images[0]])
        code = recipe.intensity_code(np.array([3, 3]), intensity=1.0)
        outputs = np.asarray(recipe.decoder([recipe.encoder(faces, training=False), code], training=False))
        self.assertGreater(float(np.abs(outputs[0] - outputs[1]).mean()), 1e-3)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "variant"):
            train(random_faces(), self.get_temp_dir(), variant="nope")
        with self.assertRaisesRegex(ValueError, "unknown option"):
            train(random_faces(), self.get_temp_dir(), epochs=3)
        with self.assertRaisesRegex(FileNotFoundError, "no_such.npz"):
            train("no_such.npz", self.get_temp_dir())
        self.assertEqual(set(CONFIGS), {"small", "paper", "synthfer64", "kdef64"})
        self.assertEqual(CONFIGS["paper"]["image_size"], 128)


class CompareTest(TestCase):
    def test_variants_over_seeds_share_the_identity_stage_and_resume(self):
        from fer_zoo.recipes.fesr.train import compare

        out = pathlib.Path(self.get_temp_dir()) / "compare"
        result = compare(random_faces(), out, config="small", variants=("BASELINE", "JL-IL"), seeds=(0, 1),
                         verbose=0, **{**TINY, "split_seed": 2})
        self.assertEqual(set(result["runs"]), {"BASELINE_s0", "JL-IL_s0", "BASELINE_s1", "JL-IL_s1"})
        for variant in ("BASELINE", "JL-IL"):
            stats = result["over_seeds"][variant]
            self.assertLen(stats["all"]["values"], 2)
            self.assertAllClose(stats["all"]["mean"], np.mean(stats["all"]["values"]))
            self.assertIn("pose +0", stats)
        # One held-out set for every seed, recorded once.
        for run in ("BASELINE_s0", "BASELINE_s1"):
            summary = json.loads((out / run / "summary.json").read_text())
            self.assertEqual(summary["test_identities"], result["test_identities"])
        # JL-IL of a seed starts from the same identity network as BASELINE of that seed.
        self.assertEqual((out / "BASELINE_s0" / "identity" / "done.json").read_text(),
                         (out / "JL-IL_s0" / "identity" / "done.json").read_text())
        # Finished runs are read back, not retrained.
        stamp = (out / "JL-IL_s1" / "summary.json").stat().st_mtime
        again = compare(random_faces(), out, config="small", variants=("BASELINE", "JL-IL"), seeds=(0, 1),
                        verbose=0, **{**TINY, "split_seed": 2})
        self.assertEqual((out / "JL-IL_s1" / "summary.json").stat().st_mtime, stamp)
        self.assertEqual(again["over_seeds"], result["over_seeds"])
        self.assertTrue((out / "comparison.json").exists())
