"""Tiny-setting tests of the paired `synthfer64` FESR generator recipe, its monitors and its gate."""

import json
import os

import keras
import numpy as np

from fer_zoo.recipes.fesr import light_cnn, models, presets
from fer_zoo.recipes.fesr.recipe import TERM_GRADIENT_NAMES, FESRRecipe
from fer_zoo.recipes.fesr.train import CONFIGS, PairedIntensityFaces, train
from fer_zoo.testing import TestCase

# The synthfer64 settings shrunk to seconds: 16 px (network_config trims the widths to two
# stages each way), 3 identities (2 train, 1 held out), intensities 0.5 and 1.
TINY = {
    "image_size": 16, "batch_size": 8, "identity_epochs": 1, "pretrain_epochs": 2,
    "light_cnn_widths": (4, 6, 8, 6, 6), "light_cnn_blocks": (1, 1, 1, 1), "embedding_dim": 16,
    "synthetic_identities": 3, "synthetic_intensities": (0.5, 1.0), "test_identity_fraction": 0.34,
    "monitor_probe": 4, "monitor_gradients": 4, "time_budget_minutes": None, "run_eagerly": True, "verbose": 0,
}


def tiny_recipe(seed=0, size=16, pixel_weights=None):
    keras.utils.set_random_seed(seed)
    nets = models.build_fesgan(models.network_config("synthfer64", image_size=size), channels=1, num_classes=7)
    identity_net = light_cnn.build_light_cnn29(size, 1, (4, 6, 8, 6, 6), (1, 1, 1, 1), embedding_dim=16)
    trunk = light_cnn.light_cnn_trunk(identity_net)
    head, r_cls = models.build_recognizer_head(trunk.output_shape[1:], (8, 16), (32, 16), 0.5, 7)
    _, r_ext = models.build_recognizer(trunk, head, r_cls)
    recipe = FESRRecipe(nets["encoder"], nets["decoder"], nets["image_critic"], nets["latent_critic"],
                        light_cnn.light_cnn_embedder(identity_net), r_ext, r_cls, seed=seed,
                        loss_weights=CONFIGS["synthfer64"]["loss_weights"], pixel_weights=pixel_weights)
    opt = {f"{n}_optimizer": keras.optimizers.Adam(2e-3, beta_1=0.5) for n in recipe.optimizer_names}
    recipe.compile(**opt)
    return recipe


def paired_batch(n=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.uniform(-1, 1, (n, size, size, 1)).astype("float32"),
        "expression": np.zeros(n, "int32"), "intensity": np.zeros(n, "float32"),
        "target": np.tanh(rng.normal(0, 1, (n, size, size, 1))).astype("float32"),
        "target_expression": rng.integers(0, 7, n).astype("int32"),
        "target_intensity": rng.uniform(0, 1, n).astype("float32"),
    }


class SynthFER64ConfigTest(TestCase):
    def test_config(self):
        cfg = CONFIGS["synthfer64"]
        self.assertEqual((cfg["image_size"], cfg["channels"], cfg["yaw"]), (64, 1, 0.0))
        ids = cfg["synthetic_identities"]
        self.assertGreaterEqual(ids - round(cfg["test_identity_fraction"] * ids), 200)  # as subject_split
        self.assertTrue(cfg["paired"] and cfg["cache_dir"] and cfg["time_budget_minutes"])
        self.assertEqual((cfg["joint_epochs"], cfg["train_recognizer"]), (0, False))
        self.assertEqual(max(cfg["synthetic_intensities"]), 1.0)
        self.assertGreater(cfg["expression_weight"], 0)
        for key in ("paired", "time_budget_minutes", "cache_dir"):  # `--set` works on every config
            self.assertIn(key, CONFIGS["small"])
        self.assertFalse(CONFIGS["small"]["paired"])
        net = models.network_config("synthfer64")
        self.assertEqual(len(net["decoder_widths"]), 4)  # 1 -> 4 -> .. -> 32, then the 64 px image layer
        # Trained with the identity path (skips + residual output; identity_path_test.py).
        trained = models.network_config(cfg["network"])
        self.assertTrue(trained["skip_connections"] and trained["residual_output"])

    def test_paired_entries(self):
        # 2 identities x 7 expressions x intensities (0.5, 1); pixels encode the labels.
        rows = np.array([(i, e, v) for i in range(2) for e in range(7) for v in (0.5, 1.0)])
        images = np.zeros((len(rows), 4, 4, 1), np.float32)
        images[:, 0, :3, 0] = rows / 10
        ds = PairedIntensityFaces(images, rows[:, 1], rows[:, 2], rows[:, 0], neutral=6, batch_size=4,
                                  anchor_fraction=1.0, shuffle=False, drop_remainder=False)
        self.assertEqual(ds.pairs()["targets"], 2 * (6 * 2 + 2))  # non-neutral x 2 intensities + neutral twice
        batches = [ds[i] for i in range(len(ds))]
        get = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
        self.assertAllClose(get["image"][:, 0, 1, 0], np.full(len(ds.rows), 0.6))  # inputs: the neutral face
        self.assertAllClose(get["intensity"], np.zeros(len(ds.rows)))  # .. as (neutral, 0): the zero code
        self.assertAllClose(get["image"][:, 0, 0, 0], get["target"][:, 0, 0, 0])  # same identity
        neutral = get["target_expression"] == 6
        self.assertEqual(sorted(get["target_intensity"][neutral].tolist()), [0.0, 0.0, 1.0, 1.0])
        # Non-neutral targets show the requested expression at the requested intensity.
        self.assertAllClose(get["target"][~neutral, 0, 1, 0], get["target_expression"][~neutral] / 10)
        self.assertAllClose(get["target"][~neutral, 0, 2, 0], get["target_intensity"][~neutral] / 10)


class PairedRecipeTest(TestCase):
    def test_paired_steps_fit_the_targets_and_log_every_term(self):
        weights = np.ones((16, 16, 1), np.float32)
        weights[4:8] = 3.0
        recipe = tiny_recipe(pixel_weights=weights / weights.mean())
        batch = paired_batch()
        first = [float(recipe.train_step(batch)["paired_l1"]) for _ in range(1)][0]
        for _ in range(7):
            logs = recipe.train_step(batch)
        self.assertLess(float(logs["paired_l1"]), first)
        for key in ("paired_l1_weighted", "reconstruction", "identity", "g_adv_img", "g_adv_z", "g_cls_fake_d",
                    "d_z_loss", "d_img_loss", "gradient_penalty"):
            self.assertTrue(np.isfinite(float(logs[key])), key)
        self.assertNotAlmostEqual(float(logs["paired_l1_weighted"]), float(logs["paired_l1"]), places=5)
        norms = recipe.term_gradient_norms(batch)
        self.assertEqual(set(norms), set(TERM_GRADIENT_NAMES.values()))
        self.assertGreater(norms["grad_paired"], 0.0)
        # Output depends on the input and on the intensity.
        x = batch["image"][:2]
        by_input = np.asarray(recipe.generate(x, [3, 3], 1.0))
        by_level = np.asarray(recipe.generate(x[:1].repeat(2, 0), [3, 3], np.array([0.0, 1.0], "float32")))
        self.assertGreater(float(np.abs(by_input[0] - by_input[1]).mean()), 1e-4)
        self.assertGreater(float(np.abs(by_level[0] - by_level[1]).mean()), 1e-4)
        # The paper's unpaired batches still train (no target key).
        logs = recipe.train_step({"image": batch["image"], "expression": batch["target_expression"]})
        self.assertNotIn("paired_l1", logs)


class SynthFER64TrainTest(TestCase):
    def test_short_run_saves_the_generator_and_logs_monitors(self):
        out = self.get_temp_dir()
        summary = train("synthetic", f"{out}/run", config="synthfer64", cache_dir=f"{out}/cache", **TINY)
        self.assertIsNone(summary["accuracy"])  # R is not trained
        self.assertEqual(set(summary["stages"]), {"identity", "pretrain"})
        self.assertEqual(summary["train_identities"], [i for i in range(3) if i not in summary["test_identities"]])
        self.assertEqual(summary["pairs"]["targets"], 2 * 14)
        self.assertEqual(summary["generator_stage"]["steps_this_call"], 2 * 3)
        history = json.load(open(f"{out}/run/pretrain/done.json"))["history"]
        for key in ("g_loss", "paired_l1", "paired_l1_weighted", "reconstruction", "identity", "g_adv_img",
                    "output_spread", "target_spread", "dead_fraction", "intensity_output_spread",
                    "intensity_target_spread", "expression_output_spread", "val_paired_l1", *TERM_GRADIENT_NAMES.values()):
            self.assertLen(history[key], 2, key)
            self.assertTrue(np.all(np.isfinite(history[key])), key)
        generator = keras.saving.load_model(summary["generator"], safe_mode=True)
        self.assertEqual([tuple(i.shape[1:]) for i in generator.inputs], [(16, 16, 1), (7,), (1,)])
        faces = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 1)).astype("float32")

        def run(images, levels):
            return np.asarray(generator.predict_on_batch(
                [images, np.eye(7, dtype="float32")[[3] * len(images)], np.asarray(levels, "float32")[:, None]]))

        by_input, by_level = run(faces, [1.0, 1.0]), run(faces[:1].repeat(2, 0), [0.0, 1.0])
        self.assertGreater(float(np.abs(by_input[0] - by_input[1]).mean()), 1e-4)
        self.assertGreater(float(np.abs(by_level[0] - by_level[1]).mean()), 1e-4)
        # G has the identity path, and its weights load into the preset architecture built
        # with the run's network name (what a `fesr_editor` preset of this run would use).
        self.assertEqual(len(generator.get_layer("g_dec").inputs), 2 + 1 + 1)  # 8 px skip + source at 16 px
        editor = presets.build_fesr_editor(image_size=16, network=summary["settings"]["network"])
        editor.set_weights(generator.get_weights())
        self.assertAllClose(run(faces, [0.3, 1.0]), np.asarray(editor.predict_on_batch(
            [faces, np.eye(7, dtype="float32")[[3, 3]], np.array([[0.3], [1.0]], "float32")])))
        # The time budget stops the G stage after its first batch; a re-run does not train further.
        budget = train("synthetic", f"{out}/budget", config="synthfer64", cache_dir=f"{out}/cache",
                       **{**TINY, "time_budget_minutes": 1e-6, "monitor_probe": 0, "monitor_gradients": 0,
                          "validate": False})
        self.assertEqual(budget["generator_stage"]["steps_this_call"], 1)
        again = train("synthetic", f"{out}/budget", config="synthfer64", cache_dir=f"{out}/cache",
                      **{**TINY, "monitor_probe": 0, "monitor_gradients": 0, "validate": False})
        self.assertEqual(again["generator_stage"]["steps_this_call"], 0)


class GateTest(TestCase):
    def test_gate_runs_on_an_untrained_generator(self):
        from fer_zoo.evaluation.judge import ExpressionJudge, build_judge
        from fer_zoo.recipes.fesr.synthfer_gate import main, run_gate, spearman

        self.assertAllClose(spearman([[1, 2, 3], [3, 2, 1], [1, 1, 1], [1, 3, 2]]), [1.0, -1.0, 0.0, 0.5])
        out = self.get_temp_dir()
        keras.utils.set_random_seed(0)
        net = models.network_config(CONFIGS["synthfer64"]["network"], image_size=16)  # with the identity path
        nets = models.build_fesgan(net, channels=1, num_classes=7)
        models.build_generator(nets["encoder"], nets["decoder"]).save(f"{out}/generator.keras")
        # A stand-in judge: untrained, its metadata says "trained on seed 0".
        judge = ExpressionJudge(build_judge(widths=(4, 4, 4, 4)), {"train": {"seed": 0}})
        results = run_gate(f"{out}/generator.keras", judge, f"{out}/gate", identities=1, train_identities=2)
        for name in ("G", "copy input", "mean face"):
            self.assertEqual(len(results[name]["ssim_by_cell"]), 36)  # 6 expressions x 6 intensities
            self.assertEqual(len(results[name]["ssim_by_intensity"]), 6)
            self.assertTrue(0.0 <= results[name]["judge_accuracy_at_1"] <= 1.0)
            self.assertTrue(-1.0 <= results[name]["spearman_median"] <= 1.0)
        # Copying the neutral input is exactly the intensity-0 target; its judge output never rises.
        self.assertAlmostEqual(results["copy input"]["ssim_by_cell"]["happy 0.0"], 1.0, places=4)
        self.assertEqual(results["copy input"]["spearman_median"], 0.0)
        self.assertIn("passed", results["gate"])
        for name in ("gate.json", "gate.md", "gate_examples.png"):
            self.assertTrue(os.path.isfile(f"{out}/gate/{name}"), name)
        self.assertIn("median Spearman", open(f"{out}/gate/gate.md").read())
        # The CLI, with the judge saved as a folder, and a held-out seed that is a training seed.
        os.makedirs(f"{out}/judge")
        judge.model.save(f"{out}/judge/judge.keras")
        json.dump({"train": {"seed": 0}}, open(f"{out}/judge/judge.json", "w"))
        with self.assertRaisesRegex(ValueError, "training seed"):
            main(["--generator", out, "--judge", f"{out}/judge", "--out", f"{out}/cli", "--heldout-seed", "0"])
        main(["--generator", out, "--judge", f"{out}/judge", "--out", f"{out}/cli", "--identities", "1",
              "--train-identities", "1"])
        self.assertTrue(os.path.isfile(f"{out}/cli/gate.md"))
