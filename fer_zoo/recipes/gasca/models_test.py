import os

import keras
import numpy as np
import pytest

from fer_zoo.layers import ConvMLP, HalfConv
from fer_zoo.recipes.gasca.models import (
    PAPER_MODEL_CONFIG,
    GASCANetworks,
    build_classifier,
    build_normalizer,
    code_shapes,
    model_config,
)
from fer_zoo.testing import TestCase

TINY = {"image_size": 16, "filters": (2, 4, 4, 4), "shifting_units": 16}


class GASCAModelsTest(TestCase):
    def test_code_shapes_and_layer_types(self):
        nets = GASCANetworks(**TINY)
        self.assertEqual(nets.shapes, [(16, 16, 1), (4, 4, 2), (4, 4, 4), (4, 4, 4), (4, 4, 4)])
        convmlp = [nets.encoders[k].get_layer(f"conv_mlp_{k + 1}") for k in range(3)]
        self.assertTrue(all(isinstance(layer, ConvMLP) for layer in convmlp))
        # Section V: 5x5, 3x3, 3x3 ConvMLP kernels, then the HalfConv layer (alpha = 0).
        self.assertEqual([layer.kernel_size for layer in convmlp], [(5, 5), (3, 3), (3, 3)])
        self.assertIsInstance(nets.encoders[3].get_layer("half_conv_4"), HalfConv)
        # Decoders: transposed convolutions / convolutions only.
        for decoder in nets.decoders:
            for layer in decoder.layers[1:]:
                self.assertIsInstance(layer, keras.layers.Conv2DTranspose | keras.layers.Conv2D)

    def test_paper_config_uses_100_shifting_units(self):
        shapes = code_shapes(PAPER_MODEL_CONFIG)
        self.assertEqual([s[:2] for s in shapes[1:]], [(10, 10)] * 4)

    def test_shallow_networks_map_code_shapes(self):
        nets = GASCANetworks(**TINY)
        for k in range(1, 5):
            x = np.random.rand(2, *nets.shapes[k - 1]).astype("float32")
            self.assertEqual(tuple(nets.shallow_autoencoder(k)(x).shape), (2, *nets.shapes[k - 1]))
            self.assertEqual(tuple(nets.disc_features[k - 1](x).shape), (2, *nets.shapes[k]))
            self.assertEqual(tuple(nets.shallow_discriminator(k)(x).shape), (2, 1))
        image = np.random.uniform(-1, 1, (2, 16, 16, 1)).astype("float32")
        out = np.asarray(nets.shallow_autoencoder(1)(image))
        self.assertLessEqual(np.abs(out).max(), 1.0)  # tanh: images stay in [-1, 1]

    def test_stacking_order_and_shared_weights(self):
        nets = GASCANetworks(**TINY)
        g = nets.stacked_generator()
        names = [layer.name for layer in g.layers]
        self.assertEqual(names, ["image", "encoder_1", "encoder_2", "encoder_3", "encoder_4",
                                 "decoder_4", "decoder_3", "decoder_2", "decoder_1"])
        self.assertIs(g.get_layer("encoder_2"), nets.encoders[1])
        self.assertIs(g.get_layer("decoder_3"), nets.decoders[2])
        # Training the shallow G^2 changes what the stack computes: same variables.
        shallow = nets.shallow_autoencoder(2)
        self.assertEqual({id(v) for v in shallow.trainable_variables},
                         {id(v) for v in nets.encoders[1].trainable_variables + nets.decoders[1].trainable_variables})
        d = nets.stacked_discriminator()
        self.assertEqual([layer.name for layer in d.layers],
                         ["image", "disc_features_1", "disc_features_2", "disc_features_3", "disc_features_4", "disc_head_4"])
        g2 = nets.stacked_generator(2)
        self.assertEqual([layer.name for layer in g2.layers][1:], ["encoder_1", "encoder_2", "decoder_2", "decoder_1"])

    def test_halfconv_code_is_symmetric(self):
        nets = GASCANetworks(**TINY)
        code = np.asarray(nets.stacked_encoder()(np.random.rand(2, 16, 16, 1).astype("float32")))
        self.assertAllClose(code, code[:, :, ::-1, :])

    def test_classifier_copies_encoder_weights(self):
        nets = GASCANetworks(**TINY)
        cnn = nets.classifier("cnn2a")
        self.assertEqual([layer.name for layer in cnn.layers],
                         ["image", "encoder_1", "encoder_2", "encoder_3", "encoder_4", "flatten", "expression"])
        dense = [layer for layer in cnn.layers if isinstance(layer, keras.layers.Dense)]
        self.assertEqual(len(dense), 1)  # feature maps straight to softmax, no hidden FC
        self.assertEqual(dense[0].kernel.shape, (4 * 4 * 4, 7))
        for k, encoder in enumerate(nets.encoders):
            for a, b in zip(cnn.get_layer(f"encoder_{k + 1}").get_weights(), encoder.get_weights()):
                self.assertAllClose(a, b)
        # A copy: fine-tuning the classifier leaves the trained GASCA encoder intact.
        before = nets.encoders[0].get_weights()[0].copy()
        cnn.get_layer("encoder_1").set_weights([w + 1.0 for w in cnn.get_layer("encoder_1").get_weights()])
        self.assertAllClose(nets.encoders[0].get_weights()[0], before)
        probs = np.asarray(cnn(np.zeros((3, 16, 16, 1), "float32")))
        self.assertAllClose(probs.sum(-1), np.ones(3), atol=1e-5)

    def test_classifier_and_normalizer_save_and_reload(self):
        x = np.random.uniform(-1, 1, (2, 16, 16, 1)).astype("float32")
        self.run_model_saving_test(build_classifier(name="cnn1", **TINY), x)
        self.run_model_saving_test(build_normalizer(**TINY), x)

    def test_normalizer_flip_average_mirrors_back_and_loads_plain_weights(self):
        # G(x) averaged with the mirror of G(mirror(x)); the plain model's weight file loads
        # as is (the mirror / average layers have no weights), and it survives .keras save/load.
        plain = build_normalizer(**TINY)
        path = os.path.join(self.get_temp_dir(), "plain.weights.h5")
        plain.save_weights(path)
        flipped = build_normalizer(flip_average=True, **TINY)
        flipped.load_weights(path)
        x = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 1)).astype("float32")
        expected = (np.asarray(plain(x)) + np.asarray(plain(x[:, :, ::-1]))[:, :, ::-1]) / 2
        self.assertAllClose(np.asarray(flipped(x)), expected, atol=1e-5)
        # Not the plain output: the two passes differ on an asymmetric input.
        self.assertGreater(float(np.abs(np.asarray(flipped(x)) - np.asarray(plain(x))).max()), 1e-4)
        # A mirrored face gives the mirrored normalised face.
        self.assertAllClose(np.asarray(flipped(x[:, :, ::-1])), np.asarray(flipped(x))[:, :, ::-1], atol=1e-5)
        self.run_model_saving_test(flipped, x)

    def test_flip_average_is_the_mean_over_the_mirror_image_with_the_same_weights(self):
        plain = build_classifier(name="cnn2a", **TINY)
        flipped = build_classifier(name="cnn2a", flip_average=True, **TINY)
        self.assertEqual(len(flipped.weights), len(plain.weights))
        flipped.set_weights(plain.get_weights())
        x = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 1)).astype("float32")
        expected = (np.asarray(plain(x)) + np.asarray(plain(x[:, :, ::-1]))) / 2
        self.assertAllClose(flipped(x), expected, atol=1e-6)
        # Mirror-invariant by construction, and not the plain model's output.
        self.assertAllClose(flipped(x), flipped(x[:, :, ::-1]), atol=1e-6)
        self.assertGreater(float(np.abs(np.asarray(plain(x)) - expected).max()), 1e-4)
        self.run_model_saving_test(flipped, x)

    def test_classifier_batch_norm_follows_each_encoder_and_keeps_pretrained_encoders(self):
        # Classifier-only option: the encoders (and so a GASCA stack's weights) are unchanged,
        # one BatchNormalization follows each, and training statistics change the output.
        config = {**TINY, "classifier_batch_norm": True}
        nets = GASCANetworks(**config)
        cnn = nets.classifier("cnn2a")
        self.assertEqual(
            [layer.name for layer in cnn.layers],
            ["image", "encoder_1", "batch_norm_1", "encoder_2", "batch_norm_2", "encoder_3",
             "batch_norm_3", "encoder_4", "batch_norm_4", "flatten", "expression"],
        )
        for k, encoder in enumerate(nets.encoders):
            for a, b in zip(cnn.get_layer(f"encoder_{k + 1}").get_weights(), encoder.get_weights()):
                self.assertAllClose(a, b)
        x = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 1)).astype("float32")
        self.assertFalse(np.allclose(np.asarray(cnn(x, training=True)), np.asarray(cnn(x, training=False))))
        # The default stays the paper's network (no normalisation layers).
        plain = build_classifier(name="cnn2a", **TINY)
        self.assertFalse(any(isinstance(layer, keras.layers.BatchNormalization) for layer in plain.layers))
        self.run_model_saving_test(build_classifier(name="cnn2a", flip_average=True, **config), x)

    def test_builders_rebuild_same_weight_layout(self):
        # Presets rely on builder(**config) loading weights saved from GASCANetworks.
        nets = GASCANetworks(**TINY)
        cnn = nets.classifier("cnn2a")
        rebuilt = build_classifier(name="cnn2a", **TINY)
        rebuilt.set_weights(cnn.get_weights())
        x = np.random.uniform(-1, 1, (2, 16, 16, 1)).astype("float32")
        self.assertAllClose(cnn(x), rebuilt(x))

    def test_bad_config_errors(self):
        with pytest.raises(ValueError, match="perfect square"):
            code_shapes({"shifting_units": 50})
        with pytest.raises(ValueError, match="kernel_sizes"):
            model_config(filters=(4, 4, 4), kernel_sizes=(5, 3))
        with pytest.raises(ValueError, match="Unknown GASCA model argument"):
            model_config(image_sise=32)
