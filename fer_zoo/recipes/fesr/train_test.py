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
        self.assertEqual(set(CONFIGS), {"small", "paper", "synthfer64"})
        self.assertEqual(CONFIGS["paper"]["image_size"], 128)
