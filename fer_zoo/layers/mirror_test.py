import keras
import numpy as np

from fer_zoo.layers.mirror import MirrorImage
from fer_zoo.testing import TestCase


class MirrorImageTest(TestCase):
    def test_flips_width_in_training_and_inference(self):
        x = np.arange(2 * 3 * 4 * 2, dtype="float32").reshape(2, 3, 4, 2)
        layer = MirrorImage()
        for training in (False, True):
            self.assertAllClose(layer(x, training=training), x[:, :, ::-1, :])
        self.assertAllClose(layer(layer(x)), x)

    def test_config_saving_and_export(self):
        inputs = keras.Input((3, 4, 2))
        model = keras.Model(inputs, MirrorImage()(inputs))
        x = np.random.default_rng(0).normal(size=(2, 3, 4, 2)).astype("float32")
        self.assertEqual(MirrorImage.from_config(MirrorImage(name="m").get_config()).name, "m")
        self.run_model_saving_test(model, x)
        self.run_export_test(model, x)
