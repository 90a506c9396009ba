"""Tiny-setting tests of the REL-GAN `synthfer64` reenactment generator config and its gate."""

import json
import os

import keras
import numpy as np

from fer_zoo.recipes.relgan import models
from fer_zoo.recipes.relgan.recipe import RELGAN, TERM_GRADIENT_NAMES
from fer_zoo.recipes.relgan.train import CONFIGS, train
from fer_zoo.testing import TestCase

# The synthfer64 settings shrunk to seconds: 16 px, two stride-2 stages each way, 4 identities.
TINY_NET = {"image_size": 16, "blocks": 2, "encoder_filters": (4, 8), "decoder_filters": (8, 4),
            "discriminator_filters": (4, 4, 4, 4), "discriminator_units": (8, 8, 8)}
TINY = {**TINY_NET, "batch_size": 8, "gan_epochs": 1, "triplet_seeds": 1, "d_warmup_steps": 1,
        "synthetic": {"identities": 4, "yaws": (0,), "intensities": (1.0,)}, "test_fraction": 0.25,
        "monitor_probe": 4, "monitor_gradients": 4, "monitor_every": 1000, "time_budget_minutes": None,
        "run_eagerly": True, "verbose": 0}


def tiny_recipe(seed=0):
    keras.utils.set_random_seed(seed)
    cfg = {**models.NETWORK_CONFIGS["synthfer64"], **TINY_NET}
    weights = np.ones((16, 16, 1), np.float32)
    weights[4:8] = 3.0
    recipe = RELGAN(num_identities=4, loss_weights=CONFIGS["synthfer64"]["loss_weights"], seed=seed,
                    pixel_weights=weights / weights.mean(), **cfg)
    recipe.compile(g_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5), d_optimizer=keras.optimizers.Adam(2e-3))
    return recipe


def triplet_batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return {"source": rng.uniform(-1, 1, (n, 16, 16, 1)).astype("float32"),
            "target": rng.uniform(-1, 1, (n, 16, 16, 1)).astype("float32"),
            "ground_truth": np.tanh(rng.normal(0, 1, (n, 16, 16, 1))).astype("float32"),
            "source_expression": rng.integers(0, 7, n).astype("int32"),
            "target_identity": rng.integers(0, 4, n).astype("int32")}


class SynthFER64ConfigTest(TestCase):
    def test_config(self):
        cfg = CONFIGS["synthfer64"]
        self.assertEqual((cfg["image_size"], cfg["channels"], cfg["downsample"], cfg["blocks"]), (64, 1, "strided", 4))
        ids = cfg["synthetic"]["identities"]
        self.assertGreaterEqual(ids - round(cfg["test_fraction"] * ids), 200)
        self.assertEqual(tuple(cfg["synthetic"]["yaws"]), (0,))
        self.assertTrue(cfg["cache_dir"] and cfg["time_budget_minutes"] and cfg["save_generator"])
        self.assertEqual(cfg["mlp_epochs"], 0)
        self.assertEqual(cfg["expression_dim"], 30)
        self.assertGreater(cfg["pixel_expression_weight"], 0)
        # The D-based terms small beside the per-pixel L1.
        w = cfg["loss_weights"]
        self.assertTrue(all(w[k] <= 1e-2 * w["pixel"] for k in ("adversarial", "expression", "identity")))
        for key in ("time_budget_minutes", "cache_dir", "save_generator", "monitor_gradients"):  # --set everywhere
            self.assertIn(key, CONFIGS["small"])
        self.assertEqual(CONFIGS["small"]["downsample"], "pool")

    def test_code_is_normalised_before_tanh(self):
        # Training config: f(e) = tanh(LayerNorm(Dense(h))). The shipped intensity-1 network
        # (NETWORK_CONFIGS, the preset's builder) keeps the plain tanh code.
        self.assertEqual(CONFIGS["synthfer64"]["expression_norm"], "layer")
        self.assertIsNone(models.NETWORK_CONFIGS["synthfer64"]["expression_norm"])
        self.assertIn("expression_norm", CONFIGS["small"])  # --set everywhere

    def test_normalised_code_cannot_saturate(self):
        # The collapse: the code layer's pre-activations grew to |.| >> 3 with one sign for every
        # face, so tanh' ~ 0 and G_es got no gradient. Blow the code kernel up 100x (far past
        # what killed the unnormalised code): tanh' of the normalised code stays large.
        images = np.random.default_rng(0).uniform(-1, 1, (16, 64, 64, 1)).astype("float32")
        derivatives = {}
        for norm in (None, "layer"):
            keras.utils.set_random_seed(0)
            cfg = {**models.NETWORK_CONFIGS["synthfer64"], "expression_norm": norm}
            g_es = models.expression_encoder(**cfg)
            kernel = g_es.get_layer("code").kernel
            at_init = np.mean(1 - np.square(np.asarray(g_es(images, training=False))))
            self.assertGreater(at_init, 0.5, norm)  # neither saturates at init
            kernel.assign(kernel * 100.0)
            code = np.asarray(g_es(images, training=False))
            derivatives[norm] = float(np.mean(1 - np.square(code)))
        self.assertLess(derivatives[None], 0.05)  # saturated: (almost) no gradient through tanh
        self.assertGreater(derivatives["layer"], 0.3)  # per-face unit variance: tanh' stays large
        with self.assertRaisesRegex(ValueError, "expression_norm"):
            models.expression_encoder(**{**models.NETWORK_CONFIGS["synthfer64"], "expression_norm": "group"})

    def test_code_path_keeps_a_spatial_map(self):
        g_es = models.expression_encoder(**models.NETWORK_CONFIGS["synthfer64"])
        flat = g_es.get_layer("flatten").input.shape
        self.assertEqual(tuple(flat[1:]), (4, 4, 256))  # no 1x1 pooling before the code
        self.assertEqual(tuple(g_es.output.shape), (None, 30))


class RecipeTest(TestCase):
    def test_steps_fit_and_output_depends_on_both_inputs(self):
        recipe = tiny_recipe()
        batch = triplet_batch()
        first = float(recipe.train_step(batch)["g_pixel_weighted_loss"])
        for _ in range(7):
            logs = recipe.train_step(batch)
        self.assertLess(float(logs["g_pixel_weighted_loss"]), first)
        for key in ("g_pixel_loss", "g_adv_loss", "g_expression_loss", "g_identity_loss", "d_loss"):
            self.assertTrue(np.isfinite(float(logs[key])), key)
        norms = recipe.term_gradient_norms(batch)
        self.assertEqual(set(norms), set(TERM_GRADIENT_NAMES.values()))
        self.assertGreater(norms["grad_pixel"], 0.0)
        g = recipe.generator_model()
        s, t = batch["source"][:2], batch["target"][:2]
        by_target = np.asarray(g({"target": t, "source": s[:1].repeat(2, 0)}))
        by_source = np.asarray(g({"target": t[:1].repeat(2, 0), "source": s}))
        self.assertGreater(float(np.abs(by_target[0] - by_target[1]).mean()), 1e-4)
        self.assertGreater(float(np.abs(by_source[0] - by_source[1]).mean()), 1e-4)


class TrainAndGateTest(TestCase):
    def test_short_run_then_gate(self):
        from fer_zoo.evaluation.judge import ExpressionJudge, build_judge
        from fer_zoo.recipes.relgan.synthfer_gate import logistic_probe, main, run_gate

        out = self.get_temp_dir()
        summary = train("synthetic", f"{out}/run", config="synthfer64", cache_dir=f"{out}/cache", **TINY)
        self.assertEqual(set(summary["stages"]), {"gan"})  # no MLP stage
        self.assertGreater(summary["gan_stage"]["steps_this_call"], 0)
        history = json.load(open(f"{out}/run/gan/done.json"))["history"]
        for key in ("g_pixel_weighted_loss", "g_pixel_loss", "output_spread", "dead_fraction", "source_target_spread",
                    "target_output_spread", "source_output_spread", *TERM_GRADIENT_NAMES.values()):
            self.assertTrue(np.all(np.isfinite(history[key])), key)
        generator = keras.saving.load_model(summary["paths"]["generator"], safe_mode=True)
        self.assertEqual(sorted(t.name for t in generator.inputs), ["source", "target"])
        encoder = keras.saving.load_model(summary["paths"]["expression_encoder"], safe_mode=True)
        self.assertEqual(tuple(encoder.output.shape), (None, 30))

        # The probe reads a separable label and not a random one.
        rng = np.random.default_rng(0)
        y = np.repeat(np.arange(3), 20)
        x = rng.normal(0, 1, (60, 5)) + 3 * np.eye(5)[y]
        self.assertGreater(logistic_probe(x[::2], y[::2], x[1::2], y[1::2], 3), 0.9)

        judge = ExpressionJudge(build_judge(widths=(4, 4, 4, 4)), {"train": {"seed": 0}})
        results = run_gate(f"{out}/run", judge, f"{out}/gate", identities=3, train_identities=2)
        for name in ("G", "copy target", "mean face", "copy source"):
            self.assertEqual(len(results[name]["ssim_by_cell"]), 7)
            self.assertTrue(0.0 <= results[name]["judge_accuracy"] <= 1.0)
        self.assertAlmostEqual(results["copy target"]["ssim_by_cell"]["neutral"], 1.0, places=4)
        for key in ("expression from f(e)", "identity from f(e)", "expression from pixels", "identity from pixels"):
            self.assertIn(key, results["probes"])
        self.assertIn("passed", results["gate"])
        for name in ("gate.json", "gate.md", "gate_examples.png"):
            self.assertTrue(os.path.isfile(f"{out}/gate/{name}"), name)
        os.makedirs(f"{out}/judge")
        judge.model.save(f"{out}/judge/judge.keras")
        json.dump({"train": {"seed": 0}}, open(f"{out}/judge/judge.json", "w"))
        with self.assertRaisesRegex(ValueError, "training seed"):
            main(["--run", f"{out}/run", "--judge", f"{out}/judge", "--out", f"{out}/cli", "--heldout-seed", "0"])
