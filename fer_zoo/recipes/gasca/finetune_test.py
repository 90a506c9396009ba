"""The critic fine-tune of a trained GASCA2 normaliser, in a tiny setting."""

import json
import os

import numpy as np

from fer_zoo.recipes.gasca.finetune import finetune_with_critic
from fer_zoo.recipes.gasca.models import GASCANetworks
from fer_zoo.recipes.gasca.synthfer64_test import TINY
from fer_zoo.recipes.gasca.train import resolve_config
from fer_zoo.testing import TestCase


class CriticFinetuneTest(TestCase):
    def _start(self, out):
        """Tiny stacked-G weights to start from, and the run's overrides."""
        model = resolve_config("synthfer64", model=TINY["model"])["model"]
        generator = GASCANetworks(**model).stacked_generator()
        path = os.path.join(out, "start.weights.h5")
        generator.save_weights(path)
        overrides = {k: v for k, v in TINY.items() if k not in ("synthetic", "gan_epochs", "finetune_epochs",
                                                                  "finetune_d_epochs", "monitor_probe")}
        overrides.update(synthetic={**TINY["synthetic"], "cache_dir": os.path.join(out, "cache")},
                         expression_critic_epochs=1)
        return generator, path, overrides

    def test_finetune_trains_g_from_the_given_weights_and_resumes(self):
        out = self.get_temp_dir()
        start, path, overrides = self._start(out)
        run = os.path.join(out, "run")
        summary = finetune_with_critic(path, run, critic_weight=0.5, epochs=1, precision="float32", **overrides)
        stages = sorted(d for d in os.listdir(run) if os.path.isdir(os.path.join(run, d)))
        self.assertEqual(stages, ["critic_finetune", "expression_critic"])
        self.assertIn("val_accuracy", summary["expression_critic"])
        history = summary["finetune_history"]
        for key in ("expression_loss", "reconstruction_loss"):
            self.assertTrue(np.all(np.isfinite(history[key])), key)
        # The saved G is the start G after training: same shapes, changed weights.
        tuned = GASCANetworks(**resolve_config("synthfer64", model=TINY["model"])["model"]).stacked_generator()
        tuned.load_weights(summary["artifacts"]["weights"])
        changed = [float(np.abs(a - b).max()) for a, b in zip(start.get_weights(), tuned.get_weights())]
        self.assertGreater(max(changed), 1e-6)
        self.assertEqual(json.load(open(summary["artifacts"]["config"]))["architecture"], "gasca_normalizer")
        # What the gate reads beside the weights.
        written = json.load(open(summary["artifacts"]["summary"]))
        self.assertEqual(written["config"]["seed"], 0)
        self.assertEqual(written["train_identities"], [0, 1])  # 3 identities, one held out
        # A rerun finds both stages done and writes the same weights.
        again = finetune_with_critic(path, run, critic_weight=0.5, epochs=1, precision="float32", **overrides)
        self.assertEqual(again["finetune_history"], summary["finetune_history"])
        resumed = GASCANetworks(**resolve_config("synthfer64", model=TINY["model"])["model"]).stacked_generator()
        resumed.load_weights(again["artifacts"]["weights"])
        for a, b in zip(tuned.get_weights(), resumed.get_weights()):
            self.assertAllClose(a, b)

    def test_critic_weight_zero_is_the_same_continuation_without_a_critic(self):
        out = self.get_temp_dir()
        start, path, overrides = self._start(out)
        run = os.path.join(out, "control")
        summary = finetune_with_critic(path, run, critic_weight=0, epochs=1, precision="float32", **overrides)
        self.assertEqual(sorted(d for d in os.listdir(run) if os.path.isdir(os.path.join(run, d))), ["critic_finetune"])
        self.assertIsNone(summary["expression_critic"])
        self.assertNotIn("expression_loss", summary["finetune_history"])
        self.assertTrue(np.all(np.isfinite(summary["finetune_history"]["reconstruction_loss"])))
        tuned = GASCANetworks(**resolve_config("synthfer64", model=TINY["model"])["model"]).stacked_generator()
        tuned.load_weights(summary["artifacts"]["weights"])
        changed = [float(np.abs(a - b).max()) for a, b in zip(start.get_weights(), tuned.get_weights())]
        self.assertGreater(max(changed), 1e-6)

    def test_more_light_copies_and_a_cosine_schedule(self):
        # light_copies k: each training face under k harsh lights (copy 0 the first run's), so
        # (k + 1) inputs per face instead of 2; cosine decays G's rate to 0 over the epochs.
        out = self.get_temp_dir()
        _, path, overrides = self._start(out)
        one = finetune_with_critic(path, os.path.join(out, "one"), critic_weight=0, epochs=1, precision="float32",
                                   **overrides)
        three = finetune_with_critic(path, os.path.join(out, "three"), critic_weight=0, epochs=1,
                                     precision="float32", light_copies=3, schedule="cosine", **overrides)
        self.assertEqual((one["light_copies"], three["light_copies"]), (1, 3))
        self.assertEqual(three["train_pairs"], 2 * one["train_pairs"])
        self.assertEqual(three["schedule"], "cosine")
        self.assertTrue(np.all(np.isfinite(three["finetune_history"]["reconstruction_loss"])))
        # More identities: the first run's (identities 0-2) and one more, split the same way.
        four = finetune_with_critic(path, os.path.join(out, "four"), critic_weight=0, epochs=1, precision="float32",
                                    identities=4, **overrides)
        self.assertEqual(four["config"]["synthetic"]["identities"], 4)
        self.assertGreater(four["train_pairs"], one["train_pairs"])
        with self.assertRaisesRegex(ValueError, "identities"):
            finetune_with_critic(path, out, critic_weight=0, identities=1)
        with self.assertRaisesRegex(ValueError, "light_copies"):
            finetune_with_critic(path, out, critic_weight=0, light_copies=0)
        with self.assertRaisesRegex(ValueError, "schedule"):
            finetune_with_critic(path, out, critic_weight=0, schedule="step")

    def test_augmented_pairs(self):
        # --augment flip_light: same pairs and steps, streamed through the paired augmentation.
        out = self.get_temp_dir()
        _, path, overrides = self._start(out)
        plain = finetune_with_critic(path, os.path.join(out, "plain"), critic_weight=0, epochs=1,
                                     precision="float32", **overrides)
        augmented = finetune_with_critic(path, os.path.join(out, "aug"), critic_weight=0, epochs=1,
                                         precision="float32", augment="flip_light", **overrides)
        self.assertEqual(augmented["augment"], "flip_light")
        self.assertEqual(augmented["train_pairs"], plain["train_pairs"])
        loss = augmented["finetune_history"]["reconstruction_loss"]
        self.assertTrue(np.all(np.isfinite(loss)))
        self.assertNotAlmostEqual(loss[0], plain["finetune_history"]["reconstruction_loss"][0], places=6)
        with self.assertRaisesRegex(ValueError, "augment"):
            finetune_with_critic(path, out, critic_weight=0, augment="standard")

    def test_bad_arguments(self):
        out = self.get_temp_dir()
        with self.assertRaisesRegex(ValueError, "critic_weight"):
            finetune_with_critic(os.path.join(out, "x.weights.h5"), out, critic_weight=-0.1)
        with self.assertRaisesRegex(FileNotFoundError, "missing.weights.h5"):
            finetune_with_critic(os.path.join(out, "missing.weights.h5"), out)

    def test_cli_set_passes_typed_config_overrides(self):
        from unittest import mock

        from fer_zoo.recipes.gasca import finetune

        seen = {}

        def record(*args, **kwargs):
            seen.update(kwargs)
            return {"expression_critic": None, "output_spread_before": {}, "output_spread_after": {}, "seconds": 0}

        with mock.patch.object(finetune, "finetune_with_critic", record):
            finetune.main(["--weights", "w.h5", "--out", "o", "--set", "expression_weight=8",
                           "--set", "relight_mode=balanced"])
        self.assertEqual(seen["expression_weight"], 8)
        self.assertIsInstance(seen["expression_weight"], int)
        self.assertEqual(seen["relight_mode"], "balanced")
        with self.assertRaises(SystemExit):
            finetune.main(["--weights", "w.h5", "--out", "o", "--set", "expression_weight"])
        with self.assertRaises(SystemExit):   # a named option, not a config entry
            finetune.main(["--weights", "w.h5", "--out", "o", "--set", "seed=1"])
        # An unknown key is refused by the config before any data is rendered.
        out = self.get_temp_dir()
        _, path, _ = self._start(out)
        with self.assertRaisesRegex(ValueError, "no_such_option"):
            finetune_with_critic(path, os.path.join(out, "run"), critic_weight=0, no_such_option=1)
