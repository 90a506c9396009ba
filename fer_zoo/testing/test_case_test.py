"""The TestCase checks must fail on broken layers (a check that cannot fail is useless)."""

import keras
import numpy as np
import pytest

from fer_zoo.testing import TestCase


@keras.saving.register_keras_serializable(package="fer_zoo_test")
class Scale(keras.layers.Layer):
    """A correct layer: multiplies by a learnable per-channel scale."""

    def __init__(self, initial=1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = initial

    def build(self, input_shape):
        self.scale = self.add_weight(
            shape=(input_shape[-1],), initializer=keras.initializers.Constant(self.initial)
        )

    def call(self, inputs):
        return inputs * self.scale

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}


@keras.saving.register_keras_serializable(package="fer_zoo_test")
class ForgetfulScale(Scale):
    """Broken: `initial` is missing from its config."""

    def get_config(self):
        config = super().get_config()
        config.pop("initial")
        return config


@keras.saving.register_keras_serializable(package="fer_zoo_test")
class DetachedScale(Scale):
    """Broken: the weight never receives a gradient."""

    def call(self, inputs):
        return inputs * keras.ops.stop_gradient(self.scale)


class UnregisteredScale(Scale):
    """Broken: not registered, so `.keras` files holding it cannot be loaded safely."""


@keras.saving.register_keras_serializable(package="fer_zoo_test")
class Float32Scale(Scale):
    """Broken under mixed precision: always returns float32."""

    def call(self, inputs):
        return keras.ops.cast(inputs * self.scale, "float32")


DATA = np.random.rand(2, 3, 4).astype("float32")


class TestCaseChecksTest(TestCase):
    def run_check(self, cls, **overrides):
        kwargs = {
            "init_kwargs": {"initial": 2.0},
            "input_data": DATA,
            "expected_output_shape": (2, 3, 4),
            "expected_num_trainable_weights": 1,
            **overrides,
        }
        return self.run_layer_test(cls, **kwargs)

    def test_correct_layer_passes(self):
        layer = self.run_check(Scale)
        self.assertAllClose(layer(DATA), 2.0 * DATA)
        self.run_export_test(self.layer_model(Scale(2.0), DATA), DATA)

    def test_wrong_shape_or_weight_count_fails(self):
        with pytest.raises(AssertionError):
            self.run_check(Scale, expected_output_shape=(2, 3, 5))
        with pytest.raises(AssertionError):
            self.run_check(Scale, expected_num_trainable_weights=2)

    def test_incomplete_config_fails(self):
        with pytest.raises(AssertionError):
            self.run_check(ForgetfulScale, run_model_saving_check=False)

    def test_missing_gradient_fails(self):
        with pytest.raises(AssertionError, match="no gradient"):
            self.run_check(DetachedScale)

    def test_wrong_mixed_precision_dtype_fails(self):
        with pytest.raises(AssertionError, match="compute dtype"):
            self.run_check(Float32Scale)

    def test_unregistered_layer_fails_model_saving(self):
        with pytest.raises((TypeError, ValueError, AssertionError)):
            self.run_check(UnregisteredScale, run_serialization_check=False)
