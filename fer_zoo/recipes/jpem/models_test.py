import os

import keras
import numpy as np

from fer_zoo.recipes.jpem import models
from fer_zoo.testing.test_case import TestCase

TINY = {
    "encoder_filters": (4, 8),
    "decoder_filters": (8, 4),
    "att_filters": (4, 8),
    "att_dense_units": 8,
    "identity_units": (8, 4, 2),
    "classifier_filters": (4, 4, 8, 8, 8),
    "classifier_convs": (2, 2, 4, 4, 4),
    "classifier_dense_units": (8, 8),
}


def one_hot(index, depth):
    return np.eye(depth, dtype="float32")[index]


def tiny_networks(channels=1, num_expressions=7, num_poses=3, **kwargs):
    return models.build_networks(
        "small", channels=channels, num_expressions=num_expressions, num_poses=num_poses, image_size=16,
        **{**TINY, **kwargs},
    )


class JPEMModelsTest(TestCase):
    def test_network_shapes(self):
        nets = tiny_networks(channels=3)
        x = np.random.uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
        e = one_hot([1, 6], 7)
        p = one_hot([0, 2], 3)
        code = np.asarray(nets["encoder"](x))
        self.assertEqual(tuple(code.shape), (2, 50))
        self.assertLessEqual(float(keras.ops.max(keras.ops.abs(code))), 1.0)  # tanh, like the prior
        image = nets["decoder"]([code, e, p])
        self.assertEqual(tuple(image.shape), (2, 16, 16, 3))
        self.assertEqual(tuple(nets["att_discriminator"]([x, e, p]).shape), (2, 1))
        self.assertEqual(tuple(nets["identity_discriminator"](code).shape), (2, 1))
        probs = nets["classifier"](x)
        self.assertEqual(tuple(probs.shape), (2, 7))
        self.assertAllClose(keras.ops.sum(probs, axis=-1), [1.0, 1.0], atol=1e-5)

    def test_code_repeat_and_tiling(self):
        self.assertEqual(models.code_repeat(50, 7), 7)
        self.assertEqual(models.code_repeat(50, 5), 10)
        nets = tiny_networks(num_expressions=7, num_poses=5)
        dec = nets["decoder"]
        # [f(x) (50), expression one-hot x 7 (49), pose one-hot x 10 (50)] into the first dense layer.
        self.assertEqual(dec.get_layer("repeat_expression").output.shape[-1], 49)
        self.assertEqual(dec.get_layer("repeat_pose").output.shape[-1], 50)
        self.assertEqual(dec.get_layer("code_and_labels").output.shape[-1], 149)
        # D_att: the 7 + 5 label units are tiled over the 8x8 maps of its first convolution.
        tiled = nets["att_discriminator"].get_layer("tile_labels").output
        self.assertEqual(tuple(tiled.shape), (None, 8, 8, 4 + 12))

    def test_decoder_uses_the_codes(self):
        nets = tiny_networks()
        code = np.zeros((1, 50), "float32")
        a = nets["decoder"]([code, one_hot([0], 7), one_hot([0], 3)])
        b = nets["decoder"]([code, one_hot([3], 7), one_hot([0], 3)])
        c = nets["decoder"]([code, one_hot([0], 7), one_hot([2], 3)])
        self.assertGreater(float(keras.ops.max(keras.ops.abs(a - b))), 0.0)
        self.assertGreater(float(keras.ops.max(keras.ops.abs(a - c))), 0.0)

    def test_generator_has_no_batch_norm_and_discriminators_do(self):
        nets = tiny_networks()
        for key in ("encoder", "decoder"):
            self.assertFalse(any(isinstance(layer, keras.layers.BatchNormalization) for layer in nets[key].layers))
        for key in ("att_discriminator", "identity_discriminator"):
            self.assertTrue(any(isinstance(layer, keras.layers.BatchNormalization) for layer in nets[key].layers))

    def test_initializer_is_normal_002(self):
        nets = models.build_networks("small", num_poses=3, image_size=32, init_stddev=0.02)
        kernel = nets["encoder"].get_layer("conv2").kernel.numpy()
        self.assertAllClose(kernel.std(), 0.02, atol=0.002)
        self.assertAllClose(kernel.mean(), 0.0, atol=0.002)

    def test_paper_config_structure(self):
        cfg = models.NETWORK_CONFIGS["paper"]
        self.assertEqual(cfg["image_size"], 128)
        self.assertEqual(cfg["encoder_filters"], (64, 128, 256, 512, 1024))
        self.assertEqual(sum(cfg["classifier_convs"]), 16)  # VGG-19: 16 conv + 3 dense layers
        self.assertEqual(cfg["identity_units"], (64, 32, 16))

    def test_classifier_pose_head(self):
        nets = tiny_networks(num_poses=5, classifier_pose_head=True)
        out = nets["classifier"](np.zeros((2, 16, 16, 1), "float32"))
        self.assertEqual(tuple(out["expression"].shape), (2, 7))
        self.assertEqual(tuple(out["pose"].shape), (2, 5))

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "divisible"):
            models.build_encoder(image_size=20, encoder_filters=(4, 8, 16))
        with self.assertRaisesRegex(FileNotFoundError, "backbone_weights"):
            models.build_classifier(image_size=32, backbone="vgg19-keras", backbone_weights="/nonexistent.h5")
        with self.assertRaisesRegex(TypeError, "unknown override"):
            models.build_networks("small", encoder_widths=(1,))

    def test_classifier_and_generator_save_load_safe_mode(self):
        nets = tiny_networks()
        x = np.random.uniform(-1, 1, (2, 16, 16, 1)).astype("float32")
        path = os.path.join(self.get_temp_dir(), "c_exp.keras")
        nets["classifier"].save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        self.assertAllClose(nets["classifier"](x), loaded(x), atol=1e-6)

        generator = models.build_generator(nets["encoder"], nets["decoder"])
        inputs = [x, one_hot([2, 4], 7), one_hot([1, 0], 3)]
        path = os.path.join(self.get_temp_dir(), "generator.keras")
        generator.save(path)
        self.assertAllClose(generator(inputs), keras.saving.load_model(path, safe_mode=True)(inputs), atol=1e-6)

        path = os.path.join(self.get_temp_dir(), "d_att.keras")
        nets["att_discriminator"].save(path)  # holds a TileCode layer
        self.assertAllClose(
            nets["att_discriminator"](inputs), keras.saving.load_model(path, safe_mode=True)(inputs), atol=1e-6
        )
