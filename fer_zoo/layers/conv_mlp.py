"""ConvMLP: a convolution followed by a "shifting" fully-connected layer shared by all maps."""

import math

import keras
from keras import ops


def conv_output_length(length, kernel_size, strides, padding):
    """Spatial length after a convolution (`"same"` or `"valid"` padding)."""
    if length is None:
        return None
    if padding == "same":
        return -(-length // strides)
    return (length - kernel_size) // strides + 1


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"`{name}` must be an int or a pair of ints, got {value!r}.")
    return value


def default_output_grid(shifting_units):
    """`(h, w)` with `h * w == shifting_units` for a perfect square, else a clear error."""
    side = math.isqrt(shifting_units)
    if side * side != shifting_units:
        raise ValueError(
            f"ConvMLP: shifting_units={shifting_units} is not a perfect square, so the output "
            "grid cannot be inferred; pass `output_grid=(h, w)` with h * w == shifting_units."
        )
    return (side, side)


@keras.saving.register_keras_serializable(package="fer_zoo")
class ConvMLP(keras.layers.Layer):
    """Convolution followed by a fully-connected "shifting" layer shared across feature maps.

    The GASCA ConvMLP layer (eq. 4-6). A convolution with `filters` kernels (no activation)
    produces `filters` feature planes of `H' x W'` values. Each plane is flattened and multiplied
    by one weight matrix `W` of shape `(H' * W', shifting_units)` plus a bias: the same `W` for
    every plane, so all maps are moved ("shifted") the same way, e.g. to rotate a face towards
    the frontal pose, which a small convolution kernel cannot do. The `shifting_units` outputs
    of each plane are laid out as an `output_grid` `(h, w)` map and `activation` (ReLU, eq. 6)
    is applied. There is no pooling: with fewer shifting units than `H' * W'` the layer also
    down-samples.

    Parameters: `kernel_h * kernel_w * C * filters + filters` (convolution) plus
    `H' * W' * shifting_units + shifting_units` (shifting layer), the latter independent of
    `filters`.

    Args:
        filters: int, number of convolution kernels (output channels).
        kernel_size: int or pair of ints, convolution kernel size.
        shifting_units: int, number of shifting units per feature map (`h * w` of the output).
            GASCA uses 100.
        output_grid: `(h, w)` with `h * w == shifting_units`; `None` uses a square grid and
            requires `shifting_units` to be a perfect square.
        strides: int or pair of ints, convolution strides.
        padding: `"same"` or `"valid"`, convolution padding.
        activation: activation applied after the shifting layer (`"relu"` in the paper).
        use_bias: bool, whether the convolution has a bias (the shifting layer always has).
        kernel_initializer: initializer of the convolution kernel.
        shifting_initializer: initializer of the shifting matrix `W`.
        bias_initializer: initializer of both biases.
        **kwargs: forwarded to `keras.layers.Layer` (`name`, `dtype`, ...).

    Input shape: `(batch, H, W, C)` with static `H` and `W` (the shifting matrix depends on them).
    Output shape: `(batch, h, w, filters)` with `(h, w) = output_grid`.

    Example:
    ```python
    layer = ConvMLP(filters=32, kernel_size=5, shifting_units=100)
    y = layer(np.zeros((2, 32, 32, 1), "float32"))  # (2, 10, 10, 32)
    ```

    Reference:
        Ruiz-Garcia et al., "Generative Adversarial Stacked Autoencoders for Facial Pose
        Normalization and Emotion Recognition", IJCNN 2020, section IV (eq. 4-6).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        shifting_units=100,
        output_grid=None,
        strides=1,
        padding="same",
        activation="relu",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        shifting_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"ConvMLP: `filters` must be a positive int, got {filters!r}.")
        if not isinstance(shifting_units, int) or shifting_units < 1:
            raise ValueError(
                f"ConvMLP: `shifting_units` must be a positive int, got {shifting_units!r}."
            )
        padding = padding.lower()
        if padding not in ("same", "valid"):
            raise ValueError(f"ConvMLP: `padding` must be 'same' or 'valid', got {padding!r}.")
        if output_grid is None:
            output_grid = default_output_grid(shifting_units)
        output_grid = _pair(output_grid, "output_grid")
        if output_grid[0] * output_grid[1] != shifting_units:
            raise ValueError(
                f"ConvMLP: output_grid={output_grid} has {output_grid[0] * output_grid[1]} cells "
                f"but shifting_units={shifting_units}; they must be equal."
            )
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.shifting_units = shifting_units
        self.output_grid = output_grid
        self.strides = _pair(strides, "strides")
        self.padding = padding
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.shifting_initializer = keras.initializers.get(shifting_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def conv_output_shape(self, input_shape):
        """Spatial `(H', W')` of the convolution output for a `(batch, H, W, C)` input."""
        return tuple(
            conv_output_length(
                input_shape[1 + i], self.kernel_size[i], self.strides[i], self.padding
            )
            for i in range(2)
        )

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"ConvMLP expects (batch, H, W, C) inputs, got shape {input_shape}.")
        if input_shape[1] is None or input_shape[2] is None or input_shape[3] is None:
            raise ValueError(
                "ConvMLP needs static height, width and channels (its shifting matrix has one row "
                f"per spatial position), got input shape {input_shape}."
            )
        conv_h, conv_w = self.conv_output_shape(input_shape)
        if conv_h < 1 or conv_w < 1:
            raise ValueError(
                f"ConvMLP: input {input_shape} is smaller than kernel_size={self.kernel_size}."
            )
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
        self.shifting_kernel = self.add_weight(
            name="shifting_kernel",
            shape=(conv_h * conv_w, self.shifting_units),
            initializer=self.shifting_initializer,
        )
        self.shifting_bias = self.add_weight(
            name="shifting_bias", shape=(self.shifting_units,), initializer=self.bias_initializer
        )

    def call(self, inputs):
        maps = ops.conv(inputs, self.kernel, strides=self.strides, padding=self.padding)
        if self.bias is not None:
            maps = maps + self.bias
        batch = ops.shape(maps)[0]
        spatial = maps.shape[1] * maps.shape[2]
        # (B, H', W', F) -> (B, F, H'*W'): one row per feature plane, all sharing the matrix.
        planes = ops.reshape(ops.transpose(maps, (0, 3, 1, 2)), (batch, self.filters, spatial))
        shifted = ops.matmul(planes, self.shifting_kernel) + self.shifting_bias
        shifted = ops.reshape(shifted, (batch, self.filters, *self.output_grid))
        return self.activation(ops.transpose(shifted, (0, 2, 3, 1)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_grid, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "shifting_units": self.shifting_units,
                "output_grid": self.output_grid,
                "strides": self.strides,
                "padding": self.padding,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "shifting_initializer": keras.initializers.serialize(self.shifting_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
