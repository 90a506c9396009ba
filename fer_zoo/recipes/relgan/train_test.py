"""Tests of REL-GAN's data path and two-stage trainer (tiny, eager, seeded)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.data.synthfer import SynthFER
from fer_zoo.recipes.relgan import train as relgan_train
from fer_zoo.testing import TestCase


class RelganTripletTest(TestCase):
    def test_triplets_on_synthfer_are_exact_reenactment_targets(self):
        renderer = SynthFER(image_size=48, channels=1, seed=0)
        faces = renderer.faceset(identities=(3, 7, 11), expressions=("happy", "sad", "surprise"), yaws=(0, 30))
        triplets = relgan_train.build_triplets(faces, seeds=(0, 1))
        self.assertEqual(len(triplets["source"]), 2 * len(faces))
        # ground truth = target identity with the source expression, at the target's pose
        np.testing.assert_array_equal(triplets["ground_truth_identity"], faces.labels["identity"][
            [int(np.nonzero((faces.images == t).all(axis=(1, 2, 3)))[0][0]) for t in triplets["target"]]
        ])
        np.testing.assert_array_equal(triplets["ground_truth_expression"], triplets["source_expression"])
        self.assertTrue(np.all(triplets["source_identity"] != triplets["ground_truth_identity"]))
        # D_i's labels are the dense 0..K-1 indices of the target identities
        dense = {3: 0, 7: 1, 11: 2}
        self.assertEqual(
            triplets["target_identity"].tolist(), [dense[i] for i in triplets["ground_truth_identity"]]
        )
        # the ground-truth image is exactly SynthFER's render of that face
        src, tgt, truth = relgan_train.pairing.relgan_triplets(faces, seed=0)
        k = 0
        render = renderer.render(
            identity=int(faces.labels["identity"][tgt[k]]),
            expression=EXPRESSIONS[faces.labels["expression"][src[k]]],
            yaw=float(faces.labels["yaw"][tgt[k]]),
        )
        np.testing.assert_allclose(faces.images[truth[k]], render, atol=1e-6)

    def test_triplet_augmentation_keeps_target_and_ground_truth_aligned(self):
        rng = np.random.default_rng(0)
        images = rng.uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
        batch = {
            "source": tf.constant(images[0]),
            "target": tf.constant(images[1]),
            "ground_truth": tf.constant(images[1]),
        }
        tf.random.set_seed(3)
        out = relgan_train._augment_triplet(32)(batch)
        self.assertEqual(tuple(out["target"].shape), (32, 32, 1))
        self.assertAllClose(out["target"], out["ground_truth"])  # one shared transform
        self.assertNotAllClose(out["target"], images[1])  # and it did transform


class RelganTrainTest(TestCase):
    def test_train_two_stages_with_baseline_then_resume(self):
        out_dir = os.path.join(self.get_temp_dir(), "run")
        options = dict(
            gan_epochs=1,
            mlp_epochs=1,
            batch_size=8,
            triplet_seeds=1,
            cnn_baseline=True,
            run_eagerly=True,
            verbose=0,
            synthetic={"identities": 4, "expressions": (0, 3, 6), "yaws": (0,)},
            test_fraction=0.5,
        )
        summary = relgan_train.train("synthetic", out_dir, **options)
        self.assertEqual(set(summary["stages"]), {"gan", "mlp", "cnn_baseline"})
        for key in ("relgan_test_accuracy", "cnn_baseline_test_accuracy", "reenactment_l1", "reenactment_ssim"):
            self.assertIn(key, summary["metrics"])
        self.assertEqual(summary["metrics"]["train_identities"], 2)
        # The D_e diagnostic: measured before and after the GAN stage, on real training faces.
        monitor = summary["d_expression_monitor"]
        self.assertEqual(monitor[0]["d_step"], 0)
        self.assertGreater(monitor[-1]["d_step"], 0)
        self.assertIn("d_expression_train_accuracy", summary["metrics"])
        json.loads(open(os.path.join(out_dir, "summary.json")).read())
        classifier = keras.saving.load_model(summary["paths"]["classifier"], safe_mode=True)
        self.assertEqual(tuple(classifier.output.shape), (None, 7))
        # Resume: every stage is done, so nothing retrains and the result is identical.
        again = relgan_train.train("synthetic", out_dir, **options)
        self.assertEqual(again["stages"], summary["stages"])
        self.assertAlmostEqual(
            again["metrics"]["relgan_test_accuracy"], summary["metrics"]["relgan_test_accuracy"]
        )

    def test_short_run_depends_on_input_and_logs_monitors(self):
        out_dir = os.path.join(self.get_temp_dir(), "monitor")
        options = dict(gan_epochs=2, mlp_epochs=1, batch_size=8, triplet_seeds=1, run_eagerly=True, verbose=0,
                       d_warmup_steps=0, augment=False, test_fraction=0.5,  # G trains from step one
                       synthetic={"identities": 4, "expressions": (0, 3, 6), "yaws": (0,)})
        summary, live = relgan_train.run("synthetic", out_dir, **options)
        history = summary["stages"]["gan"]
        for key in ("output_spread", "target_spread", "dead_fraction"):
            self.assertLen(history[key], 2)
            self.assertTrue(np.all(np.isfinite(history[key])), key)
        self.assertIn("output_spread", open(os.path.join(out_dir, "gan", "history.csv")).readline())
        self.assertGreater(history["output_spread"][-1], 1e-3)
        # Two clearly different sources (dark, a face) onto one target face: different outputs.
        test = live["test"].images
        sources = np.stack([np.full_like(test[0], -0.8), test[0]])
        outputs = relgan_train.predict_reenactment(live["recipe"], sources, np.repeat(test[-1:], 2, axis=0))
        self.assertGreater(float(np.abs(outputs[0] - outputs[1]).mean()), 1e-3)

    def test_unknown_option_is_rejected(self):
        with pytest.raises(TypeError, match="gan_epoch"):
            relgan_train.resolve_config("small", gan_epoch=3)
        with pytest.raises(ValueError, match="Unknown REL-GAN config"):
            relgan_train.resolve_config("huge")
