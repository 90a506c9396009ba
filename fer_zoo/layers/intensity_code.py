"""Continuous expression-intensity code of FESR (eq. 2)."""

import numbers

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fer_zoo")
class ExpressionIntensityCode(keras.layers.Layer):
    """Turns an expression label into a signed, continuous intensity code `u(y) = v * (2y - 1)`.

    FESR eq. 2: for a one-hot label `y` over `num_classes` expressions the code is `+v_i` at
    the labelled class and `-v_j` elsewhere, in `[-1, 1]`. During training `v` is drawn from
    `U(0, 1)`, so the decoder learns to render the expression at any strength. At inference
    `v` is the given `intensity` (default 1: the strongest, peak expression), so intensity
    sweeps are reproducible: `intensity=0.5` renders a half-strength expression.

    Args:
        num_classes: int, number of expression classes `K`.
        shared_intensity: bool. `False` (eq. 2 as written): every element `v_i` is drawn
            independently. `True`: one `v` per sample, shared by its `K` entries, which matches
            the inference-time code exactly.
        seed: int or None, seed of the layer's `keras.random.SeedGenerator`.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        labels: one-hot (or soft) labels `(batch, K)`, or integer class indices `(batch,)`.
        intensity: `None`, a scalar, or per-sample values `(batch,)` / `(batch, 1)` (or
            `(batch, K)`), nominally in `[0, 1]`. When given it is used in training too;
            `None` means `U(0, 1)` samples in training and `1` at inference.
        training: bool, Keras' training flag.

    Output shape: `(batch, K)`.

    Example:
    ```python
    code = ExpressionIntensityCode(num_classes=7, seed=0)
    y = keras.ops.one_hot([3, 0], 7)
    code(y, training=True)          # random strengths, +v at class 3 / 0, -v elsewhere
    code(y, intensity=0.5)          # [[-.5, -.5, -.5, .5, -.5, -.5, -.5], ...]
    code(y, intensity=[0.2, 1.0])   # one strength per sample
    ```

    Reference:
        Yan et al., "Joint Deep Learning of Facial Expression Synthesis and Recognition",
        IEEE Transactions on Multimedia 2020, eq. 2 (after Ding et al., ExprGAN, AAAI 2018).
    """

    def __init__(self, num_classes, shared_intensity=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                f"ExpressionIntensityCode: `num_classes` must be an int >= 2, got {num_classes!r}."
            )
        self.num_classes = num_classes
        self.shared_intensity = shared_intensity
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _as_one_hot(self, labels):
        labels = ops.convert_to_tensor(labels)
        if len(labels.shape) == 1:
            return ops.one_hot(
                ops.cast(labels, "int32"), self.num_classes, dtype=self.compute_dtype
            )
        if len(labels.shape) != 2 or labels.shape[-1] not in (None, self.num_classes):
            raise ValueError(
                "ExpressionIntensityCode expects labels of shape (batch,) or "
                f"(batch, {self.num_classes}), got {labels.shape}."
            )
        return ops.cast(labels, self.compute_dtype)

    def _intensity(self, intensity):
        if isinstance(intensity, numbers.Number) and not 0.0 <= intensity <= 1.0:
            raise ValueError(
                f"ExpressionIntensityCode: `intensity` must be in [0, 1], got {intensity!r}."
            )
        intensity = ops.cast(ops.convert_to_tensor(intensity), self.compute_dtype)
        if len(intensity.shape) == 1:
            intensity = ops.expand_dims(intensity, -1)  # per sample
        return intensity

    def call(self, labels, intensity=None, training=None):
        one_hot = self._as_one_hot(labels)
        signs = 2.0 * one_hot - 1.0
        if intensity is not None:
            strength = self._intensity(intensity)
        elif training:
            batch = ops.shape(one_hot)[0]
            shape = (batch, 1) if self.shared_intensity else (batch, self.num_classes)
            strength = keras.random.uniform(
                shape, dtype=self.compute_dtype, seed=self.seed_generator
            )
        else:
            strength = ops.ones((), dtype=self.compute_dtype)
        return signs * strength

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "shared_intensity": self.shared_intensity,
                "seed": self.seed,
            }
        )
        return config
