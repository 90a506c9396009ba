"""The FESR generator's identity path (U-Net skips + residual output, `synthfer64_skip`)."""

import keras
import numpy as np

from fer_zoo.recipes.fesr import light_cnn, models, presets
from fer_zoo.recipes.fesr.recipe import FESRRecipe
from fer_zoo.recipes.fesr.train import CONFIGS
from fer_zoo.testing import TestCase

SIZE = 16


def skip_recipe(seed=0, variant="JL", learning_rate=2e-3):
    keras.utils.set_random_seed(seed)
    cfg = models.network_config(CONFIGS["synthfer64"]["network"], image_size=SIZE)
    nets = models.build_fesgan(cfg, channels=1, num_classes=7)
    identity_net = light_cnn.build_light_cnn29(SIZE, 1, (4, 6, 8, 6, 6), (1, 1, 1, 1), embedding_dim=16)
    trunk = light_cnn.light_cnn_trunk(identity_net)
    head, r_cls = models.build_recognizer_head(trunk.output_shape[1:], (8, 16), (32, 16), 0.5, 7)
    _, r_ext = models.build_recognizer(trunk, head, r_cls)
    recipe = FESRRecipe(nets["encoder"], nets["decoder"], nets["image_critic"], nets["latent_critic"],
                        light_cnn.light_cnn_embedder(identity_net), r_ext, r_cls, seed=seed, variant=variant,
                        loss_weights=CONFIGS["synthfer64"]["loss_weights"])
    recipe.compile(**{f"{n}_optimizer": keras.optimizers.Adam(learning_rate, beta_1=0.5)
                      for n in recipe.optimizer_names})
    return recipe


def inputs(n=2, seed=0, levels=(1.0, 1.0), expression=3):
    faces = np.random.default_rng(seed).uniform(-1, 1, (n, SIZE, SIZE, 1)).astype("float32")
    return [faces, np.eye(7, dtype="float32")[[expression] * n], np.asarray(levels, "float32")[:, None]]


class IdentityPathConfigTest(TestCase):
    def test_on_in_synthfer64_off_elsewhere(self):
        trained = models.network_config(CONFIGS["synthfer64"]["network"])
        self.assertEqual(CONFIGS["synthfer64"]["network"], "synthfer64_skip")
        self.assertTrue(trained["skip_connections"] and trained["residual_output"])
        for name in ("synthfer64", "small", "paper"):  # off by default
            cfg = models.network_config(name)
            self.assertFalse(cfg["skip_connections"] or cfg["residual_output"], name)
        # The shipped preset was trained with the identity path: its weights load into it.
        import fer_zoo

        shipped = fer_zoo.load("fesr-generator-synthfer")
        self.assertEqual(len(shipped.get_layer("g_dec").inputs), 2 + 3 + 1)  # 3 skip maps + the source
        self.assertEqual(len(presets.build_fesr_editor().get_layer("g_enc").outputs), 1)  # default: paper's G

    def test_shapes_and_mismatch_errors(self):
        cfg = models.network_config("synthfer64_skip")
        encoder, decoder = models.build_encoder_decoder(cfg)
        self.assertEqual([tuple(t.shape[1:]) for t in encoder.outputs],
                         [(64,), (8, 8, 128), (16, 16, 64), (32, 32, 32), (64, 64, 1)])
        self.assertEqual([tuple(t.shape[1:]) for t in decoder.inputs],
                         [(64,), (7,), (8, 8, 128), (16, 16, 64), (32, 32, 32), (64, 64, 1)])
        plain = models.build_decoder(64, 1, cfg["decoder_widths"], 64, 7)
        with self.assertRaisesRegex(ValueError, "identity-path"):
            models.build_generator(encoder, plain)
        with self.assertRaisesRegex(ValueError, "skip_widths"):
            models.build_decoder(64, 1, cfg["decoder_widths"], 64, 7, skip_widths=(8,))


class IdentityPathModelTest(TestCase):
    def test_editor_saves_loads_and_exports(self):
        keras.utils.set_random_seed(0)
        editor = presets.build_fesr_editor(image_size=SIZE, network="synthfer64_skip")
        data = inputs(levels=(0.0, 1.0))
        self.run_model_saving_test(editor, data)
        self.run_export_test(editor, data)
        # A preset built from the frozen flags is the same architecture as from the name.
        flags = presets.build_fesr_editor(image_size=SIZE, encoder_widths=(32, 64), decoder_widths=(64, 32),
                                          skip_connections=True, residual_output=True)
        self.assertEqual([w.shape for w in flags.get_weights()], [w.shape for w in editor.get_weights()])
        flags.set_weights(editor.get_weights())
        self.assertAllClose(flags(data), editor(data))

    def test_output_depends_on_image_and_code_after_a_few_steps(self):
        # Targets: the input at intensity 0, the input + a fixed pattern of the expression at 1
        # (a paired L1 that copying the input cannot fit).
        recipe = skip_recipe()
        rng = np.random.default_rng(1)
        n = 8
        images = rng.uniform(-0.5, 0.5, (n, SIZE, SIZE, 1)).astype("float32")
        pattern = np.zeros((SIZE, SIZE, 1), "float32")
        pattern[9:13, 4:12] = 0.5  # a "mouth" that brightens with the intensity
        levels = np.tile(np.array([0.0, 1.0], "float32"), n // 2)
        batch = {"image": images, "expression": np.full(n, 6, "int32"), "intensity": np.zeros(n, "float32"),
                 "target": images + levels[:, None, None, None] * pattern,
                 "target_expression": np.full(n, 3, "int32"), "target_intensity": levels}
        generator = models.build_generator(recipe.encoder, recipe.decoder)

        def change(x):
            out = np.asarray(generator([x.repeat(2, 0), np.eye(7, dtype="float32")[[3, 3]],
                                        np.array([[0.0], [1.0]], "float32")]))
            return out[1] - out[0]

        first = change(images[:1])
        for _ in range(30):
            logs = recipe.train_step(batch)
        self.assertTrue(np.isfinite(float(logs["paired_l1"])))
        # The code moves the output at init (a little, anywhere) and after 30 steps more, where
        # the pattern is (seed 0: mean |change| 0.005 -> 0.011, cosine to the pattern 0.03 -> 0.93):
        # G did not settle on copying its input.
        def cosine(a):
            return float((a * pattern).sum() / (np.linalg.norm(a) * np.linalg.norm(pattern)))

        after = change(images[:1])
        self.assertGreater(float(np.abs(first).mean()), 1e-4)
        self.assertLess(cosine(first), 0.3)
        self.assertGreater(float(np.abs(after).mean()), 1.5 * float(np.abs(first).mean()))
        self.assertGreater(float(np.abs(after).mean()), 0.1 * float(np.abs(pattern).mean()))
        self.assertGreater(cosine(after), 0.7)
        # ... and the image moves it: different inputs, same code, different outputs.
        out = np.asarray(generator(inputs(seed=2)))
        self.assertGreater(float(np.abs(out[0] - out[1]).mean()), 0.1)

    def test_no_prior_path(self):
        recipe = skip_recipe()
        with self.assertRaisesRegex(ValueError, "prior"):
            recipe.synthesize_from_prior(np.zeros((2, 64), "float32"), np.array([1, 2]))
        with self.assertRaisesRegex(ValueError, "prior"):
            recipe.set_stage("joint")
        real = skip_recipe(variant="Real")  # FESR_Real decodes encoded images: allowed
        real.set_stage("joint")
        self.assertEqual(real.stage, "joint")


class ProbeTest(TestCase):
    def test_probe_runs_at_a_tiny_size(self):
        from fer_zoo.recipes.fesr.identity_path_probe import probe, variant_network

        self.assertEqual(variant_network("skip_residual"), CONFIGS["synthfer64"]["network"])
        with self.assertRaisesRegex(ValueError, "unknown variant"):
            variant_network("nope")
        result = probe("skip_residual", seconds=0, heldout_identities=1, image_size=SIZE, batch_size=8,
                       synthetic_identities=3, synthetic_intensities=(0.5, 1.0), test_identity_fraction=0.34,
                       light_cnn_widths=(4, 6, 8, 6, 6), embedding_dim=16, cache_dir=self.get_temp_dir(),
                       run_eagerly=True)
        self.assertEqual(result["steps"], 1)
        for key in ("ssim", "ssim_at_0", "ssim_at_1", "copy_input_ssim", "change_0_to_1", "exact_change_0_to_1",
                    "change_cosine"):
            self.assertTrue(np.isfinite(result[key]), key)
        self.assertGreater(result["exact_change_0_to_1"], 0.0)
