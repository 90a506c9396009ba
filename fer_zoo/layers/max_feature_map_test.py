import keras
import numpy as np
import pytest

from fer_zoo.layers.max_feature_map import MaxFeatureMap
from fer_zoo.testing import TestCase


class MaxFeatureMapTest(TestCase):
    def test_layer_after_convolution(self):
        self.run_layer_test(
            MaxFeatureMap,
            init_kwargs={},
            input_data=np.random.rand(2, 5, 5, 8).astype("float32"),
            expected_output_shape=(2, 5, 5, 4),
            expected_num_trainable_weights=0,
        )

    def test_layer_after_dense(self):
        self.run_layer_test(
            MaxFeatureMap,
            init_kwargs={},
            input_data=np.random.rand(3, 10).astype("float32"),
            expected_output_shape=(3, 5),
            expected_num_trainable_weights=0,
        )

    def test_takes_the_maximum_of_the_two_halves(self):
        x = np.array([[1.0, -2.0, 5.0, 0.0, 3.0, -1.0]], "float32")
        self.assertAllEqual(MaxFeatureMap()(x), [[1.0, 3.0, 5.0]])
        channels_first = np.random.rand(2, 6, 3, 3).astype("float32")
        outputs = MaxFeatureMap(axis=1)(channels_first)
        self.assertAllEqual(outputs, np.maximum(channels_first[:, :3], channels_first[:, 3:]))

    def test_gradient_reaches_only_the_winning_half(self):
        import tensorflow as tf

        x = tf.constant([[1.0, -2.0, 0.0, 3.0]])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(MaxFeatureMap()(x))
        self.assertAllEqual(tape.gradient(y, x), [[1.0, 0.0, 0.0, 1.0]])

    def test_export(self):
        inputs = keras.Input((4, 4, 6))
        model = keras.Model(inputs, MaxFeatureMap()(inputs))
        self.run_export_test(model, np.random.rand(2, 4, 4, 6).astype("float32"))

    def test_odd_channels_are_rejected(self):
        with pytest.raises(ValueError, match="even"):
            MaxFeatureMap()(np.zeros((2, 5), "float32"))
