import keras
import numpy as np
import pytest

from fer_zoo.layers.normalization import InstanceNormalization
from fer_zoo.testing import TestCase


class InstanceNormalizationTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            InstanceNormalization,
            init_kwargs={},
            input_data=np.random.rand(2, 6, 6, 4).astype("float32"),
            expected_output_shape=(2, 6, 6, 4),
            expected_num_trainable_weights=2,
            expected_num_params=8,
        )

    def test_normalises_each_sample_and_channel_over_space(self):
        images = (np.random.rand(3, 8, 8, 5) * 10 + np.arange(5)).astype("float32")
        outputs = keras.ops.convert_to_numpy(InstanceNormalization(epsilon=1e-6)(images))
        self.assertAllClose(outputs.mean(axis=(1, 2)), np.zeros((3, 5)), atol=1e-5)
        self.assertAllClose(outputs.std(axis=(1, 2)), np.ones((3, 5)), atol=1e-3)
        expected = (images - images.mean(axis=(1, 2), keepdims=True)) / np.sqrt(
            images.var(axis=(1, 2), keepdims=True) + 1e-6
        )
        self.assertAllClose(outputs, expected, atol=1e-4)

    def test_is_group_normalization_with_one_group_per_channel(self):
        layer = InstanceNormalization()
        self.assertIsInstance(layer, keras.layers.GroupNormalization)
        self.assertEqual(layer.groups, -1)
        self.assertNotIn("groups", layer.get_config())
        self.assertEqual(InstanceNormalization.from_config({"groups": -1}).groups, -1)
        with pytest.raises(ValueError, match="groups"):
            InstanceNormalization(groups=2)

    def test_export(self):
        inputs = keras.Input((6, 6, 3))
        model = keras.Model(inputs, InstanceNormalization()(inputs))
        self.run_export_test(model, np.random.rand(2, 6, 6, 3).astype("float32"))
