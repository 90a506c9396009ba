import keras
import numpy as np

from fer_zoo.recipes.fesr import models
from fer_zoo.testing import TestCase


class FESGANShapesTest(TestCase):
    def test_paper_networks_follow_table_one(self):
        cfg = models.network_config("paper")
        nets = models.build_fesgan(cfg, channels=3, num_classes=7)
        enc, dec, d_img, d_z = nets["encoder"], nets["decoder"], nets["image_critic"], nets["latent_critic"]
        convs = [layer for layer in enc.layers if isinstance(layer, keras.layers.Conv2D)]
        self.assertEqual([c.filters for c in convs], [64, 128, 256, 512, 1024])
        self.assertEqual(tuple(convs[-1].output.shape), (None, 4, 4, 1024))
        self.assertEqual(tuple(enc.output.shape), (None, 64))
        deconvs = [layer for layer in dec.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
        self.assertEqual([d.filters for d in deconvs], [512, 256, 128, 64, 32, 3])  # DeConv(c) last
        self.assertEqual(tuple(dec.output.shape), (None, 128, 128, 3))
        self.assertEqual(tuple(d_img.output["adversarial"].shape), (None, 1))
        self.assertEqual(tuple(d_img.output["classification"].shape), (None, 7))
        cls_conv = d_img.get_layer("cls_conv2")
        self.assertEqual((cls_conv.filters, cls_conv.kernel_size, cls_conv.strides), (7, (4, 4), (1, 1)))
        # D_z: FC 64-32-16-1 on a 64-d code.
        self.assertEqual(d_z.count_params(), (64 * 64 + 64) + (64 * 32 + 32) + (32 * 16 + 16) + (16 + 1))

    def test_small_config_keeps_structure_and_ranges(self):
        for size in (16, 32, 64):
            cfg = models.network_config("small", image_size=size)
            nets = models.build_fesgan(cfg, channels=1, num_classes=7)
            x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 1)).astype("float32")
            latent = nets["encoder"](x)
            self.assertEqual(tuple(latent.shape), (2, 64))
            self.assertLessEqual(float(np.abs(latent).max()), 1.0)  # tanh
            code = keras.ops.one_hot([1, 4], 7) * 2 - 1
            image = nets["decoder"]([latent, code])
            self.assertEqual(tuple(image.shape), (2, size, size, 1))
            self.assertLessEqual(float(np.abs(image).max()), 1.0)
            p = nets["latent_critic"](latent)
            self.assertTrue(np.all((np.asarray(p) > 0) & (np.asarray(p) < 1)))  # sigmoid

    def test_recognizer_head_is_table_two(self):
        trunk_in = keras.Input((16, 16, 192))
        head, r_cls = models.build_recognizer_head((16, 16, 192), num_classes=6)
        out = head(trunk_in)
        self.assertEqual(tuple(out.shape), (None, 512))
        self.assertEqual(head.get_layer("conv1").filters, 256)
        self.assertEqual(head.get_layer("conv2").output.shape[1:], (4, 4, 512))
        self.assertEqual(head.get_layer("fc1").units, 2048)
        self.assertEqual(head.get_layer("dropout").rate, 0.5)
        self.assertEqual(tuple(r_cls.output.shape), (None, 6))

    def test_bad_sizes_raise_clear_errors(self):
        with self.assertRaisesRegex(ValueError, "image_size"):
            models.network_config("small", image_size=24)
        with self.assertRaisesRegex(ValueError, "decoder widths"):
            models.build_decoder(image_size=64, widths=(8, 8))
        with self.assertRaisesRegex(ValueError, "Unknown FESR config"):
            models.network_config("huge")
