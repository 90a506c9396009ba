"""Tests of the REL-GAN networks: section 4.1 structure, shapes, frozen encoder, saving."""

import os

import keras
import numpy as np
import pytest

from fer_zoo.recipes.relgan import models
from fer_zoo.testing import TestCase

SMALL = dict(models.NETWORK_CONFIGS["small"])


def conv_filters(model):
    return [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def dense_units(model):
    return [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]


class RelganModelsTest(TestCase):
    def test_small_networks_shapes_and_ranges(self):
        images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
        f_e = models.expression_encoder(**SMALL)(images)
        f_i = models.identity_encoder(**SMALL)(images)
        self.assertEqual(tuple(f_e.shape), (2, 30))
        self.assertEqual(tuple(f_i.shape), (2, 50))
        out = keras.ops.convert_to_numpy(models.decoder(**SMALL)([f_e, f_i]))
        self.assertEqual(out.shape, (2, 32, 32, 1))
        self.assertTrue(np.all(np.abs(out) <= 1.0))
        expr, ident = models.discriminator(num_expressions=7, num_identities=5, **SMALL)(images)
        self.assertEqual(tuple(expr.shape), (2, 8))  # N_e + 1: the extra index is "fake"
        self.assertEqual(tuple(ident.shape), (2, 5))

    def test_paper_architecture_matches_section_4_1(self):
        paper = models.NETWORK_CONFIGS["paper"]
        g_es = models.expression_encoder(**paper)
        g_et = models.identity_encoder(**paper)
        g_de = models.decoder(**paper)
        d = models.discriminator(num_expressions=6, num_identities=101, **paper)
        self.assertEqual(conv_filters(g_es), [64, 128, 256, 512, 512])
        self.assertEqual(dense_units(g_es), [30])
        self.assertEqual(dense_units(g_et), [50])
        self.assertEqual(tuple(g_es.input.shape), (None, 96, 96, 3))
        self.assertTrue(all(layer.strides == (1, 1) for layer in g_es.layers if isinstance(layer, keras.layers.Conv2D)))
        self.assertEqual(conv_filters(g_de)[:5], [512, 256, 128, 64, 32])
        self.assertEqual(tuple(g_de.output.shape), (None, 96, 96, 3))
        self.assertEqual(conv_filters(d), [16, 32, 64, 128])
        # shared 1024, then two branches of 512 and 256 with N_e + 1 and N_i outputs
        self.assertEqual(sorted(dense_units(d)), sorted([1024, 512, 256, 7, 512, 256, 101]))

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="multiple of 32"):
            models.expression_encoder(image_size=48, channels=1)
        with pytest.raises(ValueError, match="encoder_filters"):
            models.expression_encoder(image_size=32, encoder_filters=(8, 8))
        with pytest.raises(ValueError, match="norm"):
            models.expression_encoder(image_size=32, norm="layer")

    def test_classifier_freezes_the_expression_encoder_during_mlp_training(self):
        encoder = models.expression_encoder(**SMALL)
        classifier = models.relgan_classifier(encoder=encoder, num_classes=7, mlp_units=(16,))
        self.assertEqual(len(classifier.trainable_weights), 4)  # MLP kernels + biases only
        before_encoder = [w.numpy().copy() for w in encoder.weights]
        head = [w for w in classifier.weights if w.path.startswith("mlp") or w.path.startswith("expression")]
        before_head = [w.numpy().copy() for w in head]
        classifier.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
        rng = np.random.default_rng(1)
        x = rng.uniform(-1, 1, (8, 32, 32, 1)).astype("float32")
        y = rng.integers(0, 7, 8)
        classifier.fit(x, y, batch_size=4, epochs=1, verbose=0)
        for old, new in zip(before_encoder, encoder.weights):
            np.testing.assert_array_equal(old, new.numpy())  # bit-identical
        self.assertTrue(any(not np.array_equal(o, w.numpy()) for o, w in zip(before_head, head)))

    def test_classifier_save_load_safe_mode(self):
        classifier = models.relgan_classifier(num_classes=7, **{**SMALL, "mlp_units": (16,)})
        x = np.random.default_rng(2).uniform(-1, 1, (3, 32, 32, 1)).astype("float32")
        path = os.path.join(self.get_temp_dir(), "relgan.keras")
        classifier.save(path)
        restored = keras.saving.load_model(path, safe_mode=True)
        self.assertAllClose(classifier.predict(x, verbose=0), restored.predict(x, verbose=0))
        self.assertFalse(restored.get_layer("expression_encoder").trainable)
        probs = restored.predict(x, verbose=0)
        self.assertAllClose(probs.sum(axis=1), np.ones(3), atol=1e-5)

    def test_cnn_baseline_has_the_encoder_architecture_of_its_config(self):
        # The 64 px config's G_es has four strided blocks and a tanh code; the baseline must
        # match it layer for layer (it once built the paper's five pooled blocks and failed).
        config = {**models.NETWORK_CONFIGS["synthfer64"], "encoder_filters": (4, 4, 8, 8)}
        baseline = models.cnn_baseline(num_classes=7, **config)
        encoder = models.expression_encoder(**config)
        shapes = [w.shape for w in baseline.get_layer("expression_encoder").weights]
        self.assertEqual(shapes, [w.shape for w in encoder.weights])
        self.assertEqual(baseline.output_shape, (None, 7))
        # The frozen-encoder classifier built from the same config (what a preset does) too.
        classifier = models.relgan_classifier(num_classes=7, **config)
        self.assertEqual([w.shape for w in classifier.get_layer("expression_encoder").weights], shapes)

    def test_cnn_baseline_trains_the_encoder_end_to_end(self):
        baseline = models.cnn_baseline(num_classes=7, **SMALL)
        encoder_weights = baseline.get_layer("expression_encoder").trainable_weights
        self.assertEqual(len(baseline.trainable_weights), len(encoder_weights) + 2)
