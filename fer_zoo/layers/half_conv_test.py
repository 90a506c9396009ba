import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_zoo.layers.half_conv import HalfConv
from fer_zoo.testing import TestCase


class HalfConvTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            HalfConv,
            init_kwargs={"filters": 4, "kernel_size": 3},
            input_data=np.random.rand(2, 8, 10, 3).astype("float32"),
            expected_output_shape=(2, 8, 10, 4),
            expected_num_trainable_weights=2,
            expected_num_params=3 * 3 * 3 * 4 + 4,
        )

    def test_output_is_exactly_mirror_symmetric(self):
        layer = HalfConv(5, 3, activation=None)
        outputs = keras.ops.convert_to_numpy(layer(np.random.rand(3, 12, 16, 2).astype("float32")))
        np.testing.assert_array_equal(outputs, outputs[:, :, ::-1, :])

    def test_right_half_gets_no_gradient(self):
        layer = HalfConv(4, 3, activation="tanh")
        images = tf.constant(np.random.rand(2, 8, 8, 2).astype("float32"))
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss = tf.reduce_sum(layer(images) ** 2)
        grads = tape.gradient(loss, images).numpy()
        np.testing.assert_array_equal(grads[:, :, 4:], 0.0)
        self.assertGreater(np.abs(grads[:, :, :4]).min(), 0.0)

    def test_left_half_equals_same_convolution_of_left_half(self):
        layer = HalfConv(3, 5, activation=None)
        images = np.random.rand(2, 8, 12, 2).astype("float32")
        outputs = keras.ops.convert_to_numpy(layer(images))
        reference = keras.layers.Conv2D(3, 5, padding="same")
        reference.build((None, 8, 6, 2))
        reference.set_weights(layer.get_weights())
        expected = keras.ops.convert_to_numpy(reference(images[:, :, :6]))
        self.assertAllClose(outputs[:, :, :6], expected, atol=1e-5)

    def test_same_parameters_and_half_the_macs_of_a_full_convolution(self):
        layer = HalfConv(16, 3)
        layer.build((None, 32, 32, 8))
        full = keras.layers.Conv2D(16, 3, padding="same")
        full.build((None, 32, 32, 8))
        self.assertEqual(layer.count_params(), full.count_params())
        macs = layer.compute_macs((None, 32, 32, 8))
        self.assertEqual(macs["full_conv"], 32 * 32 * 3 * 3 * 8 * 16)
        self.assertEqual(macs["half_conv"], macs["full_conv"] // 2)
        self.assertEqual(macs["ratio"], 0.5)

    def test_export(self):
        inputs = keras.Input((8, 8, 1))
        model = keras.Model(inputs, HalfConv(2, 3)(inputs))
        self.run_export_test(model, np.random.rand(2, 8, 8, 1).astype("float32"))

    def test_odd_width_is_rejected(self):
        with pytest.raises(ValueError, match="even input width"):
            HalfConv(4, 3)(np.zeros((1, 8, 7, 1), "float32"))
