import keras
import numpy as np
import pytest

from fer_zoo.layers.intensity_code import ExpressionIntensityCode
from fer_zoo.testing import TestCase

LABELS = np.array([3, 0, 6, 3], "int32")
ONE_HOT = np.eye(7, dtype="float32")[LABELS]


class ExpressionIntensityCodeTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            ExpressionIntensityCode,
            init_kwargs={"num_classes": 7, "seed": 1},
            input_data=ONE_HOT,
            expected_output_shape=(4, 7),
            expected_num_trainable_weights=0,
        )

    def test_training_codes_are_in_range_with_the_label_sign_pattern(self):
        layer = ExpressionIntensityCode(7, seed=3)
        codes = keras.ops.convert_to_numpy(layer(np.tile(ONE_HOT, (50, 1)), training=True))
        self.assertTrue(np.all(np.abs(codes) <= 1.0))
        positive = np.tile(ONE_HOT, (50, 1)) == 1.0
        self.assertTrue(np.all(codes[positive] >= 0.0))
        self.assertTrue(np.all(codes[~positive] <= 0.0))
        # Strengths are spread over (0, 1), not constant, and differ per element (eq. 2).
        self.assertGreater(np.abs(codes).std(), 0.2)
        self.assertGreater(np.abs(codes[0]).std(), 0.0)

    def test_shared_intensity_uses_one_strength_per_sample(self):
        layer = ExpressionIntensityCode(7, shared_intensity=True, seed=3)
        codes = keras.ops.convert_to_numpy(layer(ONE_HOT, training=True))
        np.testing.assert_allclose(np.abs(codes), np.abs(codes[:, :1]) * np.ones((1, 7)))

    def test_seed_makes_training_codes_reproducible(self):
        first = ExpressionIntensityCode(7, seed=11)(ONE_HOT, training=True)
        second = ExpressionIntensityCode(7, seed=11)(ONE_HOT, training=True)
        other = ExpressionIntensityCode(7, seed=12)(ONE_HOT, training=True)
        self.assertAllClose(first, second)
        self.assertNotAllClose(first, other)

    def test_inference_uses_the_given_intensity(self):
        layer = ExpressionIntensityCode(7, seed=0)
        expected_signs = 2.0 * ONE_HOT - 1.0
        self.assertAllClose(layer(ONE_HOT), expected_signs)  # default: full intensity
        self.assertAllClose(layer(ONE_HOT, intensity=0.25), 0.25 * expected_signs)
        per_sample = np.array([0.0, 0.5, 1.0, 0.1], "float32")
        self.assertAllClose(
            layer(LABELS, intensity=per_sample), per_sample[:, None] * expected_signs
        )
        # A given intensity is used in training too (no sampling).
        self.assertAllClose(layer(ONE_HOT, intensity=0.5, training=True), 0.5 * expected_signs)

    def test_intensity_as_a_model_input(self):
        labels = keras.Input((7,))
        intensity = keras.Input((1,))
        model = keras.Model(
            [labels, intensity], ExpressionIntensityCode(7)(labels, intensity=intensity)
        )
        strengths = np.array([[0.2], [0.4], [0.6], [0.8]], "float32")
        self.assertAllClose(model([ONE_HOT, strengths]), strengths * (2.0 * ONE_HOT - 1.0))
        self.run_model_saving_test(model, [ONE_HOT, strengths])
        self.run_export_test(model, [ONE_HOT, strengths])

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match="intensity"):
            ExpressionIntensityCode(7)(ONE_HOT, intensity=1.5)
        with pytest.raises(ValueError, match=r"\(batch, 7\)"):
            ExpressionIntensityCode(7)(np.zeros((2, 5), "float32"))
        with pytest.raises(ValueError, match="num_classes"):
            ExpressionIntensityCode(1)
