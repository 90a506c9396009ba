"""Max-Feature-Map activation of Light CNN."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fer_zoo")
class MaxFeatureMap(keras.layers.Layer):
    """Splits the channels in two halves and keeps their element-wise maximum.

    The Light CNN MFM activation: for `2n` input channels the output has `n`, channel `i`
    being `max(x[..., i], x[..., n + i])`. A competitive, parameter-free non-linearity that
    also halves the width; it works after convolutions `(batch, H, W, 2n)` and dense layers
    `(batch, 2n)` alike.

    Args:
        axis: int, the channel axis to split (`-1`).
        **kwargs: forwarded to `keras.layers.Layer`.

    Input shape: any rank, with an even, static size along `axis`.
    Output shape: the input shape with that size halved.

    Example:
    ```python
    x = keras.layers.Conv2D(96, 5, padding="same")(keras.Input((32, 32, 1)))
    y = MaxFeatureMap()(x)  # (None, 32, 32, 48)
    ```

    Reference:
        Wu et al., "A Light CNN for Deep Face Representation with Noisy Labels",
        IEEE Transactions on Information Forensics and Security, 2018.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _check_input_shape(self, input_shape):
        channels = input_shape[self.axis]
        if channels is None or channels % 2:
            raise ValueError(
                f"MaxFeatureMap needs an even, static number of channels on axis {self.axis}, "
                f"got input shape {input_shape}."
            )
        return channels

    def build(self, input_shape):
        self._check_input_shape(input_shape)

    def call(self, inputs):
        first, second = ops.split(inputs, 2, axis=self.axis)
        return ops.maximum(first, second)

    def compute_output_shape(self, input_shape):
        channels = self._check_input_shape(input_shape)
        output_shape = list(input_shape)
        output_shape[self.axis] = channels // 2
        return tuple(output_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis})
        return config
