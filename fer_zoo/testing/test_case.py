"""Shared test base for fer_zoo layers and models (keras-hub style)."""

import json
import os
import tempfile

import keras
import tensorflow as tf
from absl.testing import parameterized
from keras import ops, tree


def _to_numpy(x):
    return tree.map_structure(lambda t: ops.convert_to_numpy(t), x)


def _shape_of(x):
    return tuple(int(d) for d in ops.shape(x))


def _is_shape(value):
    return isinstance(value, tuple | list) and all(d is None or isinstance(d, int) for d in value)


def _symbolic_inputs(input_data):
    """`keras.Input`s (batch left open) mirroring the structure of `input_data`."""

    def make(t):
        t = ops.convert_to_tensor(t)
        return keras.Input(shape=_shape_of(t)[1:], dtype=keras.backend.standardize_dtype(t.dtype))

    return tree.map_structure(make, input_data)


class TestCase(tf.test.TestCase, parameterized.TestCase):
    """Base class of fer_zoo tests: layer, serialization, `.keras` saving and export checks.

    Runs under pytest (it is a `unittest.TestCase`, so `self.assertAllClose`,
    `self.get_temp_dir()` and `@parameterized.named_parameters` are available). Every check
    restores the global dtype policy it changes.

    Example:
    ```python
    class ConvMLPTest(TestCase):
        def test_layer(self):
            self.run_layer_test(
                ConvMLP,
                init_kwargs={"filters": 4, "kernel_size": 3, "shifting_units": 16},
                input_data=np.random.rand(2, 8, 8, 1).astype("float32"),
                expected_output_shape=(2, 4, 4, 4),
                expected_num_trainable_weights=4,
            )
    ```
    """

    # tf.test.TestCase's deprecated `test_session` would be collected (and skipped) by pytest.
    test_session = None

    def setUp(self):
        super().setUp()
        keras.config.set_dtype_policy("float32")
        keras.utils.set_random_seed(0)

    def tearDown(self):
        keras.config.set_dtype_policy("float32")
        super().tearDown()

    def assertShapeMatches(self, expected, actual, msg=None):
        """Shapes equal, with `None` in `expected` matching any size."""
        expected, actual = tuple(expected), tuple(actual)
        self.assertEqual(len(expected), len(actual), msg or f"{expected} vs {actual}")
        for e, a in zip(expected, actual):
            if e is not None:
                self.assertEqual(e, a, msg or f"shape {actual} != expected {expected}")

    def run_layer_test(
        self,
        cls,
        init_kwargs,
        input_data,
        expected_output_shape,
        expected_num_trainable_weights=None,
        expected_num_non_trainable_weights=None,
        expected_num_params=None,
        call_kwargs=None,
        run_training_check=True,
        run_precision_check=True,
        run_serialization_check=True,
        run_model_saving_check=True,
    ):
        """Check a layer end to end.

        Args:
            cls: the layer class.
            init_kwargs: dict of constructor arguments.
            input_data: array, or list/dict of arrays, passed as the first call argument.
            expected_output_shape: full output shape (or a structure of shapes).
            expected_num_trainable_weights: number of trainable variables after building.
            expected_num_non_trainable_weights: number of non-trainable variables.
            expected_num_params: total scalar parameter count.
            call_kwargs: extra keyword arguments of `call`.
            run_training_check: every trainable weight must receive a gradient.
            run_precision_check: under `mixed_bfloat16` variables stay float32 and float
                outputs are bfloat16.
            run_serialization_check: `run_serialization_test` on the built layer.
            run_model_saving_check: `run_model_saving_test` on a one-layer functional model.

        Returns:
            The built layer.
        """
        call_kwargs = call_kwargs or {}
        layer = cls(**init_kwargs)
        output = layer(input_data, **call_kwargs)
        self._assert_shapes(expected_output_shape, output)
        if expected_num_trainable_weights is not None:
            self.assertLen(layer.trainable_weights, expected_num_trainable_weights)
        if expected_num_non_trainable_weights is not None:
            self.assertLen(layer.non_trainable_weights, expected_num_non_trainable_weights)
        if expected_num_params is not None:
            self.assertEqual(layer.count_params(), expected_num_params)

        # Symbolic call and compute_output_shape agree with the eager call.
        symbolic_layer = cls(**init_kwargs)
        symbolic_output = symbolic_layer(_symbolic_inputs(input_data), **call_kwargs)
        self._assert_shapes(
            [(None, *_shape_of(o)[1:]) for o in tree.flatten(output)], symbolic_output
        )
        input_shapes = tree.map_structure(lambda t: (None, *_shape_of(t)[1:]), input_data)
        try:
            computed = layer.compute_output_shape(input_shapes)
        except NotImplementedError:  # optional in Keras 3 (compute_output_spec traces call)
            computed = None
        if computed is not None:
            computed = [computed] if _is_shape(computed) else list(computed)
            for o, c in zip(tree.flatten(output), computed):
                self.assertShapeMatches((None, *_shape_of(o)[1:]), tuple(c), "compute_output_shape")

        if run_training_check and layer.trainable_weights:
            with tf.GradientTape() as tape:
                out = layer(input_data, **call_kwargs)
                loss = tf.add_n(
                    [tf.reduce_sum(tf.cast(o, "float32") ** 2) for o in tree.flatten(out)]
                )
            grads = tape.gradient(loss, layer.trainable_weights)
            for weight, grad in zip(layer.trainable_weights, grads):
                self.assertIsNotNone(grad, f"no gradient reaches {weight.path}")

        if run_precision_check:
            self._run_precision_check(cls, init_kwargs, input_data, call_kwargs)
        if run_serialization_check:
            self.run_serialization_test(
                layer, input_data=input_data, call_kwargs=call_kwargs, init_kwargs=init_kwargs
            )
        if run_model_saving_check:
            model = self.layer_model(cls(**init_kwargs), input_data, call_kwargs)
            self.run_model_saving_test(model, input_data)
        return layer

    def _assert_shapes(self, expected, output):
        outputs = tree.flatten(output)
        if _is_shape(expected):
            expected = [expected]
        self.assertLen(outputs, len(expected), "number of outputs")
        for e, o in zip(expected, outputs):
            self.assertShapeMatches(e, tuple(o.shape))

    def _run_precision_check(self, cls, init_kwargs, input_data, call_kwargs):
        layer = cls(**{**init_kwargs, "dtype": "mixed_bfloat16"})
        output = layer(input_data, **call_kwargs)
        for weight in layer.weights:
            self.assertEqual(
                keras.backend.standardize_dtype(weight.dtype),
                "float32",
                f"{weight.path} is not float32",
            )
        for out in tree.flatten(output):
            dtype = keras.backend.standardize_dtype(out.dtype)
            if "float" in dtype:
                self.assertEqual(dtype, "bfloat16", "float outputs must follow the compute dtype")

    @staticmethod
    def layer_model(layer, input_data, call_kwargs=None):
        """A functional model applying `layer` to inputs shaped like `input_data`."""
        inputs = _symbolic_inputs(input_data)
        return keras.Model(inputs, layer(inputs, **(call_kwargs or {})))

    def run_serialization_test(self, instance, input_data=None, call_kwargs=None, init_kwargs=None):
        """`get_config` -> `from_config` (and via registered name) reproduces the object.

        The config must be JSON-serialisable and round-trip to itself. With `init_kwargs`
        (the arguments `instance` was built with) every one must be in the config, with the
        same value when it is a plain value. With `input_data`, a built `instance` and its
        revived copy (given the same weights) give equal outputs.
        """
        cls = instance.__class__
        config = instance.get_config()
        json.dumps(config)  # must be plain JSON
        for key, value in (init_kwargs or {}).items():
            self.assertIn(key, config, f"{cls.__name__}.get_config() misses argument {key!r}")
            given, stored = _normalise(value), _normalise(config[key])
            # Values the layer canonicalises (3 -> [3, 3], "relu" -> a dict) are only present.
            if type(given) is type(stored) and not isinstance(stored, dict):
                self.assertEqual(given, stored, f"config[{key!r}] differs from the argument")
        revived = cls.from_config(config)
        self.assertEqual(_normalise(config), _normalise(revived.get_config()))

        serialized = keras.saving.serialize_keras_object(instance)
        self.assertEqual(serialized["registered_name"], keras.saving.get_registered_name(cls))
        by_name = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
        self.assertIsInstance(by_name, cls)
        self.assertEqual(_normalise(config), _normalise(by_name.get_config()))

        if input_data is not None:
            call_kwargs = call_kwargs or {}
            expected = instance(input_data, **call_kwargs)
            actual_layer = cls.from_config(config)
            actual_layer(input_data, **call_kwargs)  # build
            actual_layer.set_weights(instance.get_weights())
            actual = actual_layer(input_data, **call_kwargs)
            self.assertAllClose(_to_numpy(expected), _to_numpy(actual))
        return revived

    def run_model_saving_test(self, model, input_data, atol=1e-6, rtol=1e-6):
        """`.keras` save/load with `safe_mode=True` gives the same outputs."""
        path = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), "model.keras")
        expected = model(input_data)
        model.save(path)
        restored = keras.saving.load_model(path, safe_mode=True)
        actual = restored(input_data)
        self.assertAllClose(_to_numpy(expected), _to_numpy(actual), atol=atol, rtol=rtol)
        return restored

    def run_export_test(self, model, input_data, atol=1e-5, rtol=1e-5):
        """`model.export()` to a SavedModel; `tf.saved_model.load(...).serve` gives the same outputs."""
        path = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), "exported")
        expected = model(input_data)
        model.export(path, format="tf_saved_model", verbose=False)
        reloaded = tf.saved_model.load(path)
        actual = reloaded.serve(tree.map_structure(ops.convert_to_tensor, input_data))
        self.assertAllClose(_to_numpy(expected), _to_numpy(actual), atol=atol, rtol=rtol)
        return reloaded


def _normalise(config):
    """Lists and tuples compare equal (JSON turns tuples into lists)."""
    return json.loads(json.dumps(config))
