import keras
import numpy as np
import pytest

from fer_zoo.layers.code_tiling import TileCode
from fer_zoo.testing import TestCase


def inputs():
    features = np.random.rand(2, 4, 5, 3).astype("float32")
    code = np.eye(7, dtype="float32")[[3, 6]]
    return [features, code]


class TileCodeTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            TileCode,
            init_kwargs={"repeat": 2},
            input_data=inputs(),
            expected_output_shape=(2, 4, 5, 3 + 7 * 2),
            expected_num_trainable_weights=0,
        )

    def test_every_position_carries_the_repeated_code(self):
        features, code = inputs()
        outputs = keras.ops.convert_to_numpy(TileCode(repeat=3)([features, code]))
        self.assertAllEqual(outputs[..., :3], features)
        expected = np.tile(code, (1, 3))[:, None, None, :] * np.ones((1, 4, 5, 1))
        self.assertAllEqual(outputs[..., 3:], expected)

    def test_dynamic_spatial_size(self):
        features = keras.Input((None, None, 8))
        code = keras.Input((7,))
        model = keras.Model([features, code], TileCode(repeat=2)([features, code]))
        self.assertEqual(tuple(model.output.shape), (None, None, None, 22))
        outputs = model([np.zeros((1, 3, 9, 8), "float32"), np.ones((1, 7), "float32")])
        self.assertEqual(tuple(outputs.shape), (1, 3, 9, 22))

    def test_export(self):
        features = keras.Input((4, 5, 3))
        code = keras.Input((7,))
        model = keras.Model([features, code], TileCode(repeat=2)([features, code]))
        self.run_export_test(model, inputs())

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="repeat"):
            TileCode(repeat=0)
        with pytest.raises(ValueError, match="code"):
            TileCode()([np.zeros((2, 4, 4, 3), "float32"), np.zeros((2, 4, 4, 7), "float32")])
