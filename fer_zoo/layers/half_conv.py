"""HalfConv: convolve the left half of a (frontal) face and mirror the result."""

import keras
from keras import ops

from fer_zoo.layers.conv_mlp import _pair


def conv2d_macs(height, width, channels, filters, kernel_size):
    """Multiply-adds of a stride-1 `"same"` 2D convolution over an `height x width` input."""
    kernel_h, kernel_w = _pair(kernel_size, "kernel_size")
    return height * width * kernel_h * kernel_w * channels * filters


@keras.saving.register_keras_serializable(package="fer_zoo")
class HalfConv(keras.layers.Layer):
    """Convolution of the left half of the input, mirrored to a full-width, symmetric output.

    The GASCA HalfConv layer (eq. 7) for frontal faces. The input `(batch, H, W, C)` is cut
    vertically; only the left half `(batch, H, W/2, C)` is convolved (stride 1, zero padding
    on both sides of that half, so the kernel also covers the columns next to the centre line
    instead of dropping them). The `(batch, H, W/2, filters)` result is then mirrored across
    the vertical axis and concatenated, giving `(batch, H, W, filters)` maps that are exactly
    left-right symmetric. The right half of the input is ignored (its gradient is zero).

    What it saves: the kernel is the same as a full convolution's, so the number of
    parameters is equal (`kernel_h * kernel_w * C * filters + filters`; the paper's "half the
    parameters" is not what eq. 7 computes); the saving is half the multiply-adds (see
    `compute_macs`) and a symmetric output by construction.

    Args:
        filters: int, number of convolution kernels (output channels).
        kernel_size: int or pair of ints, convolution kernel size.
        activation: activation of the convolution (`"relu"`).
        use_bias: bool, whether the convolution has a bias.
        kernel_initializer: initializer of the convolution kernel.
        bias_initializer: initializer of the bias.
        **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`, ...).

    Input shape: `(batch, H, W, C)` with an even, static `W`.
    Output shape: `(batch, H, W, filters)`.

    Example:
    ```python
    layer = HalfConv(filters=16, kernel_size=3)
    y = layer(np.zeros((2, 32, 32, 8), "float32"))  # (2, 32, 32, 16), y == y[:, :, ::-1]
    layer.compute_macs((None, 32, 32, 8))  # {"half_conv": 589824, "full_conv": 1179648, ...}
    ```

    Reference:
        Ruiz-Garcia et al., "Generative Adversarial Stacked Autoencoders for Facial Pose
        Normalization and Emotion Recognition", IJCNN 2020, section IV (eq. 7).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        activation="relu",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"HalfConv: `filters` must be a positive int, got {filters!r}.")
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @staticmethod
    def _check_input_shape(input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"HalfConv expects (batch, H, W, C) inputs, got shape {input_shape}.")
        width = input_shape[2]
        if width is None or input_shape[3] is None:
            raise ValueError(
                f"HalfConv needs a static width and channel count, got input shape {input_shape}."
            )
        if width % 2:
            raise ValueError(
                f"HalfConv needs an even input width to split the face in two halves, got "
                f"width {width} (input shape {input_shape})."
            )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, input_shape[3], self.filters),
            initializer=self.kernel_initializer,
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
            if self.use_bias
            else None
        )

    def call(self, inputs):
        half_width = inputs.shape[2] // 2
        left = inputs[:, :, :half_width, :]
        # "same" zero-pads the centre-line edge of the half too, so those features survive (eq. 7).
        maps = ops.conv(left, self.kernel, strides=1, padding="same")
        if self.bias is not None:
            maps = maps + self.bias
        maps = self.activation(maps)
        return ops.concatenate([maps, ops.flip(maps, axis=2)], axis=2)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.filters)

    def compute_macs(self, input_shape):
        """Multiply-adds of this layer and of a full `"same"` convolution on `input_shape`.

        Args:
            input_shape: `(batch, H, W, C)`; the batch entry is ignored (per-image counts).

        Returns:
            dict with `half_conv`, `full_conv` (ints) and `ratio` (`half_conv / full_conv`).
        """
        self._check_input_shape(tuple(input_shape))
        _, height, width, channels = input_shape
        half = conv2d_macs(height, width // 2, channels, self.filters, self.kernel_size)
        full = conv2d_macs(height, width, channels, self.filters, self.kernel_size)
        return {"half_conv": half, "full_conv": full, "ratio": half / full}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
