"""Tiny-setting tests of the `synthfer64` GASCA2 normaliser recipe, its monitors and its gate."""

import json

import numpy as np

from fer_zoo.recipes.gasca.models import GASCANetworks
from fer_zoo.recipes.gasca.train import code_health, per_layer, resolve_config, train
from fer_zoo.testing import TestCase

# The synthfer64 recipe (64 px, GANGGLW + stacked fine-tunes, d_then_g) shrunk to seconds.
TINY = {
    "model": {"filters": (4, 8, 8, 8), "shifting_units": 64},
    "synthetic": {"identities": 3, "yaws": (-30, -15, 0, 15, 30), "expressions": (0, 3, 6)},
    "val_fraction": 0.34,
    "batch_size": 16,
    "gan_epochs": 1,
    "finetune_epochs": (0, 1, 1, 1),
    "finetune_d_epochs": (0, 1, 1, 1),
    "monitor_probe": 16,
    "verbose": 0,
}
HEALTH_KEYS = [f"{name}_{k}" for k in range(1, 5) for name in ("zero", "dead", "code_std")] + [
    "probe_output_std", "probe_target_std", "probe_l1"]


class SynthFER64Test(TestCase):
    def test_short_run_depends_on_input_and_logs_monitors(self):
        out = self.get_temp_dir()
        summary = train("synthetic", out_dir=out, config="synthfer64", variant="gasca2",
                        synthetic={**TINY["synthetic"], "cache_dir": f"{out}/cache"},
                        **{k: v for k, v in TINY.items() if k != "synthetic"})
        # Fixed stacked fine-tune order: the stacked D is trained as a stack before G meets it.
        stages = list(summary["stage_seconds"])
        self.assertLess(stages.index("layer2_finetune_d"), stages.index("layer2_finetune_g"))
        for name, final in summary["stages"].items():
            if name == "expression_critic":  # a classifier stage (its own test below)
                continue
            for key in ("reconstruction_loss", "minimax_loss", "d_loss", "output_std", "target_std"):
                self.assertIn(key, final, f"{name} does not log {key}")
            if not name.endswith("_finetune_d"):
                depth = int(name[len("layer")])
                for key in [f"dead_{k}" for k in range(1, depth + 1)] + ["probe_output_std", "probe_target_std"]:
                    self.assertIn(key, final, f"{name} does not log {key}")
        history = json.loads((self.out_path(out) / "layer4_finetune_g" / "done.json").read_text())["history"]
        self.assertIn("dead_4", history)
        for key in HEALTH_KEYS:
            self.assertIn(key, summary["health"])
            self.assertTrue(np.isfinite(summary["health"][key]))
        # The trained normaliser's output depends on its input: different faces, different outputs.
        cfg = resolve_config("synthfer64", **TINY)
        nets = GASCANetworks(**cfg["model"])
        generator = nets.stacked_generator()
        generator.load_weights(summary["normalizer_weights"])
        from fer_zoo.recipes.gasca.train import synthetic_data

        base, harsh = synthetic_data(resolve_config("synthfer64", **{**TINY, "synthetic": {
            **TINY["synthetic"], "cache_dir": f"{out}/cache"}}))
        self.assertEqual(harsh.shape, (1, *base.images.shape))
        outputs = np.asarray(generator(base.images[:32], training=False))
        self.assertGreater(float(outputs.std(0).mean()), 1e-3)
        self.assertGreater(float(np.abs(outputs[0] - outputs[-1]).mean()), 1e-3)
        self.assertGreater(summary["health"]["probe_output_std"], 1e-3)
        # The summary's probe numbers are code_health on the same networks.
        health = code_health(nets, base.images[:8])
        self.assertEqual(set(health), {k for k in HEALTH_KEYS if not k.startswith("probe")})

    def test_per_layer_options(self):
        self.assertEqual(per_layer(3, 2), 3)
        self.assertEqual(per_layer((4, 2, 2, 6), 4), 6)
        cfg = resolve_config("synthfer64")
        self.assertEqual(cfg["model"]["image_size"], (64, 64))
        self.assertEqual(cfg["finetune_order"], "d_then_g")
        self.assertEqual(cfg["code_reconstruction_norm"], "l2")
        self.assertEqual(resolve_config("small")["code_reconstruction_norm"], "l2")

    def test_wall_clock_budget_stops_the_stage(self):
        import keras

        from fer_zoo.recipes.gasca.train import WallClockBudget

        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        budget = WallClockBudget(deadline=0.0)  # already passed: stop after the first batch
        history = model.fit(np.zeros((64, 2)), np.zeros((64, 1)), batch_size=8, epochs=5, verbose=0,
                            callbacks=[budget])
        self.assertEqual(len(history.history["loss"]), 1)
        self.assertEqual(budget.stopped_at, 0)
        self.assertEqual(resolve_config("synthfer64")["time_budget_minutes"], 50)

    def test_expression_critic_stage_and_term(self):
        out = self.get_temp_dir()
        summary = train("synthetic", out_dir=out, config="synthfer64", variant="gasca2",
                        synthetic={**TINY["synthetic"], "cache_dir": f"{out}/cache"},
                        expression_critic_weight=0.5, expression_critic_epochs=1,
                        **{k: v for k, v in TINY.items() if k != "synthetic"})
        stages = list(summary["stage_seconds"])
        # The critic is trained before any stacked-G fine-tune uses it.
        self.assertLess(stages.index("expression_critic"), stages.index("layer2_finetune_g"))
        self.assertIn("val_accuracy", summary["expression_critic"])
        for name in ("layer2_finetune_g", "layer4_finetune_g"):
            self.assertIn("expression_loss", summary["stages"][name])
            self.assertIn("val_expression_accuracy", summary["stages"][name])
        # The stacked D's fine-tune is not shaped by the critic.
        self.assertNotIn("expression_loss", summary["stages"]["layer2_finetune_d"])

    def test_expression_term_pulls_outputs_towards_the_label(self):
        import keras
        import tensorflow as tf

        from fer_zoo.recipes.gasca.models import build_expression_critic
        from fer_zoo.recipes.gasca.recipe import AdversarialAutoencoder

        cfg = resolve_config("synthfer64", model=TINY["model"])
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (16, 64, 64, 1)).astype(np.float32)
        labels = np.full(16, 3, np.int32)

        def class_3_probability_after_training(weight):
            """p(class 3) the frozen critic gives G's outputs after 30 steps with the term at `weight`."""
            keras.utils.set_random_seed(0)
            nets = GASCANetworks(**cfg["model"])
            critic = build_expression_critic((64, 64), 1, 7, widths=(4, 8))
            before = critic.get_weights()
            stage = AdversarialAutoencoder(nets.stacked_generator(2), nets.stacked_discriminator(2),
                                           adversarial_weight=0.0, expression_critic=critic, expression_weight=weight,
                                           train_discriminator=False, seed=0)
            stage.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.SGD(1e-3))
            stage.fit(tf.data.Dataset.from_tensor_slices((x, x, labels)).batch(16), epochs=30, verbose=0)
            for a, b in zip(before, critic.get_weights()):
                self.assertAllClose(a, b)  # the critic stays frozen
            with self.assertRaisesRegex(ValueError, "x_phi, x_mu, expression"):
                stage.train_step((x, x))
            return float(np.mean(np.asarray(critic(stage.generator(x), training=False))[:, 3]))

        # Same seed, same steps: with the term G's outputs move towards what the critic reads
        # as the label; without it (weight 0, reconstruction only) they do not.
        self.assertGreater(class_3_probability_after_training(100.0),
                           class_3_probability_after_training(0.0) + 0.02)

    @staticmethod
    def out_path(out):
        import pathlib

        return pathlib.Path(out)


class GateTest(TestCase):
    def test_gate_runs_on_an_untrained_normaliser(self):
        from fer_zoo.evaluation import load_judge, train_judge
        from fer_zoo.recipes.gasca.models import build_normalizer
        from fer_zoo.recipes.gasca.synthfer_gate import run_gate, ssim

        out = self.get_temp_dir()
        train_judge(f"{out}/judge", identities=3, per_group=1, heldout_identities=1, epochs=1,
                    widths=(4, 8, 8, 8), cache_dir=None, verbose=0)
        judge = load_judge(f"{out}/judge")
        self.assertEqual(judge.predict(np.zeros((2, 64, 64, 1), np.float32)).shape, (2,))
        model = {**resolve_config("synthfer64", model=TINY["model"])["model"]}
        weights = f"{out}/normalizer.weights.h5"
        build_normalizer(**model).save_weights(weights)
        with open(f"{out}/normalizer.json", "w") as f:
            json.dump({"config": {k: list(v) if isinstance(v, tuple) else v for k, v in model.items()}}, f)
        results = run_gate(weights, f"{out}/judge", f"{out}/gate", identities=1, train_identities=2)
        for name in ("G(x)", "copy input", "mean face"):
            self.assertEqual(len(results[name]["ssim_by_cell"]), 10)  # 5 yaws x 2 lights
            self.assertTrue(0.0 <= results[name]["judge_accuracy"] <= 1.0)
        # Copying a frontal, evenly lit input is the target itself.
        self.assertAlmostEqual(results["copy input"]["ssim_by_cell"]["even +0"], 1.0, places=4)
        self.assertIn("passed", results["gate"])
        confusion = np.asarray(results["G(x)"]["judge_confusion"])
        self.assertEqual(confusion.shape, (7, 7))
        self.assertEqual(confusion.sum(), 70)  # 1 identity x 7 expressions x 5 yaws x 2 lights
        self.assertAlmostEqual(np.trace(confusion) / 70, results["G(x)"]["judge_accuracy"], places=5)
        self.assertIn("per input expression", results["table"])
        # The mirror-averaged normaliser (as the preset ships) is gated from the same file.
        mirrored = run_gate(weights, f"{out}/judge", f"{out}/gate_flip", identities=1, train_identities=2,
                            flip_average=True)
        self.assertTrue(mirrored["setup"]["flip_average"])
        self.assertNotEqual(mirrored["G(x)"]["ssim"], results["G(x)"]["ssim"])
        self.assertEqual(results["copy input"]["ssim"], mirrored["copy input"]["ssim"])
        a = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 1)).astype(np.float32)
        self.assertAllClose(ssim(a, a), [1.0, 1.0], atol=1e-5)
