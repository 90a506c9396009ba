import json
import os

import numpy as np
import pytest

from fer_zoo.data.faceset import FaceSet
from fer_zoo.recipes.gasca import pairs
from fer_zoo.recipes.gasca.train import (
    _dataset,
    classifier_learning_rate,
    resolve_config,
    stage_pairs,
    train,
)
from fer_zoo.testing import TestCase


def _tiny_faceset(identities=4, expressions=2, yaws=(-30, -15, 0, 15, 30)):
    rng = np.random.default_rng(0)
    rows = [(i, e, y) for i in range(identities) for e in range(expressions) for y in yaws]
    ids, exps, ys = (np.array(c) for c in zip(*rows))
    images = rng.uniform(-1, 1, (len(rows), 16, 16, 1)).astype("float32")
    return FaceSet(images, {"identity": ids, "expression": exps, "yaw": ys.astype(float)})


class PairsTest(TestCase):
    def test_eq8_and_stage_targets(self):
        yaw = np.array([60, 45, 30, 15, 0, -15, -45, -60])
        # Eq. 8 with alpha = 45, d = 15: only poses beyond 45 move one step towards 0.
        self.assertAllEqual(pairs.eq8_target_pose(yaw, 45, 15), [45, 45, 30, 15, 0, -15, -45, -45])
        self.assertAllEqual(pairs.eq8_target_pose(yaw, 0, 15), [45, 30, 15, 0, 0, 0, -30, -45])
        self.assertEqual(pairs.stage_alphas(60, 15, 4), (45.0, 30.0, 15.0, 0.0))
        self.assertEqual(pairs.stage_alphas(45, 45, 4), (0.0, 0.0, 0.0, 0.0))  # KDEF HL/S/HR
        self.assertEqual(pairs.stage_alphas(90, 45, 4), (45.0, 0.0, 0.0, 0.0))  # KDEF FL..FR
        # Layer k's target = eq. 8 applied to the pose after layers 1..k-1.
        effective = yaw.astype(float)
        for alpha in pairs.stage_alphas(60, 15, 4):
            effective = pairs.eq8_target_pose(effective, alpha, 15)
            self.assertAllEqual(effective, pairs.stage_target_pose(yaw, alpha))
        self.assertAllEqual(effective, np.zeros(8))

    def test_pose_pairs_match_identity_and_expression(self):
        fs = _tiny_faceset()
        target_yaw = pairs.stage_target_pose(fs.labels["yaw"], 15)
        src, tgt = pairs.pose_pair_indices(fs.labels, target_yaw)
        self.assertEqual(len(src), len(fs))
        for key in ("identity", "expression"):
            self.assertAllEqual(fs.labels[key][src], fs.labels[key][tgt])
        self.assertAllEqual(fs.labels["yaw"][tgt], target_yaw[src])
        # Lit copies: stage_pairs maps every copy to the base row's target.
        source = np.concatenate([np.arange(len(fs))] * 2)
        rows, targets = stage_pairs(fs, source, 0.0)
        self.assertEqual(len(rows), 2 * len(fs))
        self.assertTrue(np.all(fs.labels["yaw"][targets] == 0))

    def test_relight_and_luminance_target(self):
        rng = np.random.default_rng(0)
        face = np.zeros((1, 16, 16, 1), "float32")
        relit = pairs.relight(np.repeat(face, 8, 0), rng)
        self.assertEqual(relit.shape, (8, 16, 16, 1))
        self.assertTrue(np.all(relit >= -1) and np.all(relit <= 1))
        self.assertFalse(np.allclose(relit, 0.0))
        # One side darker than the other: a side light, not a global shift.
        self.assertGreater(np.abs(relit[:, :, :4].mean((1, 2, 3)) - relit[:, :, -4:].mean((1, 2, 3))).min(), 0.02)
        copies = np.stack([np.full((4, 4, 1), v, "float32") for v in (-0.9, 0.1, 0.0, 0.8)])
        self.assertEqual(pairs.closest_to_mean_luminance(copies), 2)  # mean is 0.0

    def test_balanced_relight_brightens_as_often_as_it_darkens(self):
        rng = np.random.default_rng(0)
        faces = np.tile(np.linspace(-0.8, 0.8, 16, dtype="float32")[None, :, None, None], (400, 1, 16, 1))
        before = pairs.relative_luminance(faces)
        balanced = pairs.relative_luminance(pairs.relight(faces, rng, 0.8))
        darken = pairs.relative_luminance(pairs.relight(faces, rng, 0.8, mode="darken"))
        self.assertBetween(float(np.mean(balanced > before)), 0.35, 0.65)
        self.assertLess(float(np.mean(darken > before)), 0.3)  # the first version's bias
        with pytest.raises(ValueError, match="mode"):
            pairs.relight(faces, rng, mode="brighten")

    def test_identity_split_is_subject_independent(self):
        ids = np.repeat(np.arange(10), 5)
        train_mask, val_mask = pairs.identity_split(ids, 0.2, seed=1)
        self.assertEqual(len(np.unique(ids[val_mask])), 2)
        self.assertFalse(set(ids[train_mask]) & set(ids[val_mask]))
        folds = [pairs.identity_split(ids, fold=f, n_folds=5)[1] for f in range(5)]
        self.assertAllEqual(np.sum(folds, axis=0), np.ones(50))  # every image tested once

    def test_config_errors(self):
        with pytest.raises(ValueError, match="Unknown GASCA config"):
            resolve_config("huge")
        with pytest.raises(ValueError, match="Unknown GASCA training option"):
            resolve_config("small", epochs=3)
        with pytest.raises(ValueError, match="variant"):
            train(_tiny_faceset(), out_dir=self.get_temp_dir(), variant="gasca3")


class TrainTest(TestCase):
    def test_train_gasca2_mixed_precision_then_resume_skips_done_stages(self):
        out = os.path.join(self.get_temp_dir(), "run")
        options = dict(model={"image_size": 16, "filters": (2, 4), "kernel_sizes": (5, 3), "shifting_units": 16},
                       gan_epochs=1, finetune_epochs=1, classifier_epochs=1, batch_size=16, verbose=0,
                       light_copies=1, val_fraction=0.25)
        summary = train(_tiny_faceset(), out_dir=out, variant="gasca2", precision="mixed_bfloat16", **options)
        # finetune_order="d_then_g" (default of "small"): the stacked D is fine-tuned before G.
        stages = ["layer1_gan", "layer2_gan", "layer2_finetune_d", "layer2_finetune_g", "classifier"]
        self.assertEqual(list(summary["stages"]), stages)
        self.assertEqual(summary["precision"], "mixed_bfloat16")
        self.assertEqual(summary["alphas"], [15.0, 0.0])
        self.assertFalse(set(summary["train_identities"]) & set(summary["val_identities"]))
        self.assertEqual(sorted(summary["reconstruction"]), [-30, -15, 0, 15, 30])
        self.assertIn("per_yaw", summary["classifier"])
        for stage in stages:
            self.assertTrue(os.path.exists(os.path.join(out, stage, "done.json")))
        stamps = {s: os.path.getmtime(os.path.join(out, s, "final.weights.h5")) for s in stages}
        again = train(_tiny_faceset(), out_dir=out, variant="gasca2", **options)
        # Finished stages are skipped (weights untouched) and their weights are reloaded.
        self.assertEqual(stamps, {s: os.path.getmtime(os.path.join(out, s, "final.weights.h5")) for s in stages})
        self.assertAllClose(summary["classifier"]["confusion"], again["classifier"]["confusion"])
        self.assertAlmostEqual(summary["reconstruction"][0], again["reconstruction"][0], places=2)
        saved = json.loads(open(os.path.join(out, "summary.json")).read())
        self.assertEqual(saved["variant"], "gasca2")


class ClassifierOptionsTest(TestCase):
    def test_augmented_dataset_changes_images_not_labels(self):
        x = np.linspace(-1, 1, 4 * 16 * 16).reshape(4, 16, 16, 1).astype("float32")
        y = np.arange(4)
        plain = next(iter(_dataset(x, y, 4, 0, shuffle=False)))
        augmented = next(iter(_dataset(x, y, 4, 0, shuffle=False, augment="standard")))
        self.assertAllEqual(plain[1], augmented[1])
        self.assertEqual(augmented[0].shape, (4, 16, 16, 1))
        self.assertFalse(np.allclose(plain[0], augmented[0]))
        self.assertTrue(np.all(np.abs(augmented[0]) <= 1.0))

    def test_cosine_schedule_decays_to_zero(self):
        cfg = resolve_config("kdef", classifier_schedule="cosine", classifier_epochs=3)
        schedule = classifier_learning_rate(cfg, steps_per_epoch=10)
        self.assertAllClose(schedule(0), cfg["classifier_learning_rate"])
        self.assertLess(float(schedule(15)), cfg["classifier_learning_rate"])
        self.assertAllClose(schedule(30), 0.0)
        constant = resolve_config("kdef", classifier_schedule="constant")
        self.assertEqual(classifier_learning_rate(constant, 10), constant["classifier_learning_rate"])
        with pytest.raises(ValueError, match="classifier_schedule"):
            classifier_learning_rate(resolve_config("kdef", classifier_schedule="step"), 10)
