"""Tiny-setting tests of the `synthfer64` JPEM generator recipe, its monitors and its gate."""

import json
import os

import numpy as np

from fer_zoo.recipes.jpem import data as jpem_data
from fer_zoo.recipes.jpem.train import pose_weight_maps, resolve_config, train
from fer_zoo.testing import TestCase

# The synthfer64 networks (64 px, four stride-2 stages each way) shrunk to seconds.
TINY_NETWORKS = {
    "encoder_filters": (4, 8, 8, 8), "decoder_filters": (8, 8, 4, 4), "dense_filters": 8, "code_dim": 8,
    "att_filters": (4, 4, 4, 4), "att_dense_units": 8, "identity_units": (8,),
    "classifier_filters": (4, 4, 4, 4, 4), "classifier_convs": (1, 1, 1, 1, 1), "classifier_dense_units": (8,),
}


def tiny_options(cache_dir, **extra):
    return {
        "network_overrides": TINY_NETWORKS,
        "synthetic": {"identities": 3, "yaws": (-45.0, 0.0, 45.0), "seed": 0, "intensities": (1.0,),
                      "cache_dir": cache_dir},
        "batch_size": 16, "gan_epochs": 2, "monitor_probe": 4, "verbose": 0, "run_eagerly": True,
        "precision": "float32", **extra,
    }


class SynthFER64ConfigTest(TestCase):
    def test_config_resolves(self):
        cfg = resolve_config("synthfer64")
        self.assertEqual(cfg["image_size"], 64)
        ids = cfg["synthetic"]["identities"]
        self.assertGreaterEqual(ids - round(cfg["test_fraction"] * ids), 200)  # as protocols.subject_split
        self.assertEqual(tuple(cfg["poses"]), (-45.0, 0.0, 45.0))
        self.assertEqual(cfg["sampling"], "target")
        self.assertIsNone(cfg["init_stddev"])
        self.assertGreater(cfg["expression_weight"], 0)
        self.assertTrue(cfg["time_budget_minutes"] and cfg["synthetic"]["cache_dir"])
        self.assertEqual(cfg["generated_ratio"], [])
        self.assertEqual(resolve_config("small")["generated_ratio"], 5)

    def test_pose_weight_maps(self):
        rng = np.random.default_rng(0)
        images = rng.uniform(-1, 1, (42, 8, 8, 1)).astype(np.float32)
        expression, pose = np.repeat(np.arange(7), 6), np.tile(np.arange(3), 14)
        maps = pose_weight_maps(images, expression, pose, 3, 4.0)
        self.assertEqual(maps.shape, (3, 8, 8, 1))
        self.assertAllClose(maps.reshape(3, -1).mean(1), np.ones(3), atol=1e-5)
        self.assertIsNone(pose_weight_maps(images, expression, pose, 3, 0.0))

    def test_target_sampling(self):
        # Complete grid of 2 identities x 7 expressions x 3 poses; pixels encode the labels.
        rows = np.array([(i, e, p) for i in range(2) for e in range(7) for p in range(3)])
        images = np.zeros((len(rows), 4, 4, 1), np.float32)
        images[:, 0, :3, 0] = rows / 10
        ds = jpem_data.PairedFaces(images, rows[:, 1], rows[:, 2], rows[:, 0], 7, 3, batch_size=8, seed=0,
                                   sampling="target", anchor=(4, 1), anchor_fraction=1.0)
        x, labels = ds[0]
        self.assertAllClose(x[:, 0, 1:3, 0], np.tile([[0.4, 0.1]], (len(x), 1)))  # inputs: neutral frontal
        self.assertAllClose(labels["target_image"][:, 0, 0, 0], x[:, 0, 0, 0])  # same identity
        self.assertAllClose(labels["target_image"][:, 0, 1, 0], labels["target_expression"] / 10)
        self.assertEqual(sorted(ds.target_rows.tolist()), list(range(len(rows))))  # each face a target once


class SynthFER64TrainTest(TestCase):
    def test_short_run_depends_on_input_and_code_and_logs_monitors(self):
        import keras

        out = self.get_temp_dir()
        summary = train("synthetic", out_dir=f"{out}/run", config="synthfer64", **tiny_options(f"{out}/cache"))
        self.assertEqual(summary["precision"], "float32")
        self.assertEqual(summary["metrics"]["classifier"], {})  # GAN stage only
        self.assertEqual(summary["train_size"], 42)  # 2 of 3 identities x 7 x 3
        self.assertEqual(summary["metrics"]["gan_steps_this_call"], 2 * 3)
        history = json.load(open(os.path.join(out, "run", "gan", "done.json")))["history"]
        for key in ("g_loss", "l1_loss", "l1_weighted_loss", "tv_loss", "g_att_loss", "g_i_loss", "c_generated_loss",
                    "d_att_loss", "output_spread", "target_spread", "dead_fraction", "expression_output_spread",
                    "expression_target_spread", "val_l1_loss", "grad_l1", "grad_tv", "grad_c", "grad_att", "grad_i"):
            self.assertLen(history[key], 2, key)
            self.assertTrue(np.all(np.isfinite(history[key])), key)
        self.assertIn("expression_output_spread", open(os.path.join(out, "run", "gan", "history.csv")).readline())
        self.assertGreater(history["grad_l1"][-1], 0.0)
        # The weighted L1 differs from the plain one (pixel weights are on).
        self.assertNotAlmostEqual(history["l1_weighted_loss"][-1], history["l1_loss"][-1], places=5)
        generator = keras.saving.load_model(summary["artifacts"]["generator"], safe_mode=True)
        from fer_zoo.recipes.jpem.train import cached_synthetic

        faces = cached_synthetic(resolve_config("synthfer64", **tiny_options(f"{out}/cache"))).images[[0, 21]]

        def run(images, expression, pose):
            return np.asarray(generator.predict_on_batch(
                [images, np.eye(7, dtype="float32")[expression], np.eye(3, dtype="float32")[pose]]))

        # Two identities, one code: different outputs. One face, two expression codes: too.
        by_input = run(faces, [3, 3], [2, 2])
        by_code = run(faces[:1].repeat(2, 0), [0, 6], [1, 1])
        self.assertGreater(float(np.abs(by_input[0] - by_input[1]).mean()), 1e-4)
        self.assertGreater(float(np.abs(by_code[0] - by_code[1]).mean()), 1e-4)

    def test_time_budget_stops_the_gan_stage(self):
        out = self.get_temp_dir()
        summary = train("synthetic", out_dir=f"{out}/run", config="synthfer64",
                        **tiny_options(f"{out}/cache", time_budget_minutes=1e-6, monitor_probe=0, validation=False))
        self.assertEqual(summary["metrics"]["gan_epochs_run"], 1)
        self.assertEqual(summary["metrics"]["gan_steps_this_call"], 1)


class GateTest(TestCase):
    def test_gate_runs_on_an_untrained_generator(self):
        from fer_zoo.evaluation.judge import ExpressionJudge, build_judge
        from fer_zoo.recipes.jpem import models
        from fer_zoo.recipes.jpem.synthfer_gate import main, run_gate

        out = self.get_temp_dir()
        nets = models.build_networks("synthfer64", channels=1, num_expressions=7, num_poses=3, **{
            k: v for k, v in TINY_NETWORKS.items() if not k.startswith("classifier")})
        models.build_generator(nets["encoder"], nets["decoder"]).save(f"{out}/generator.keras")
        # A stand-in judge: untrained, its metadata says "trained on seed 0".
        judge = ExpressionJudge(build_judge(widths=(4, 4, 4, 4)), {"train": {"seed": 0}})
        results = run_gate(f"{out}/generator.keras", judge, f"{out}/gate", identities=1, train_identities=2)
        for name in ("G", "copy input", "mean face"):
            self.assertEqual(len(results[name]["ssim_by_cell"]), 21)  # 7 expressions x 3 yaws
            self.assertTrue(0.0 <= results[name]["judge_accuracy"] <= 1.0)
        # Copying the neutral frontal input is exactly the neutral frontal target.
        self.assertAlmostEqual(results["copy input"]["ssim_by_cell"]["neutral +0"], 1.0, places=4)
        self.assertIn("every_cell_passed", results["gate"])
        for name in ("gate.json", "gate.md", "gate_examples.png"):
            self.assertTrue(os.path.isfile(f"{out}/gate/{name}"), name)
        self.assertIn("SSIM mean face", open(f"{out}/gate/gate.md").read())
        # The CLI, with the judge saved as a folder, and a held-out seed that is a training seed.
        os.makedirs(f"{out}/judge")
        judge.model.save(f"{out}/judge/judge.keras")
        json.dump({"train": {"seed": 0}}, open(f"{out}/judge/judge.json", "w"))
        with self.assertRaisesRegex(ValueError, "training seed"):
            main(["--generator", out, "--judge", f"{out}/judge", "--out", f"{out}/cli", "--heldout-seed", "0"])
        main(["--generator", out, "--judge", f"{out}/judge", "--out", f"{out}/cli", "--identities", "1",
              "--train-identities", "1"])
        self.assertTrue(os.path.isfile(f"{out}/cli/gate.md"))
