"""Concatenate a condition code to every spatial position of a feature map."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fer_zoo")
class TileCode(keras.layers.Layer):
    """Tiles a per-sample code over the feature map and concatenates it along the channels.

    Conditional encoder-decoders (CAAE, JPEM) inject a label code (expression, pose, ...)
    into convolutional features. The code `(batch, K)` is repeated `repeat` times along its own
    axis, broadcast to every spatial position and concatenated to the features `(batch, H, W,
    C)`, giving `(batch, H, W, C + K * repeat)`. Repeating the code makes it a larger share of
    the channels, so a short one-hot code is not drowned by hundreds of feature channels.

    Args:
        repeat: int >= 1, how many times the code is repeated along the channel axis.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        inputs: list `[features, code]` with `features` `(batch, H, W, C)` and `code`
            `(batch, K)`.

    Output shape: `(batch, H, W, C + K * repeat)`.

    Example:
    ```python
    features = np.zeros((2, 8, 8, 64), "float32")
    expression = keras.ops.one_hot([3, 5], 7)
    TileCode(repeat=4)([features, expression]).shape  # (2, 8, 8, 92)
    ```

    Reference:
        Zhang et al., "Age Progression/Regression by Conditional Adversarial Autoencoder"
        (CAAE), CVPR 2017; Zhang et al., "Joint Pose and Expression Modeling for Facial
        Expression Recognition" (JPEM), CVPR 2018.
    """

    def __init__(self, repeat=1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"TileCode: `repeat` must be an int >= 1, got {repeat!r}.")
        self.repeat = repeat

    @staticmethod
    def _check_shapes(input_shape):
        if not isinstance(input_shape, list | tuple) or len(input_shape) != 2:
            raise ValueError(f"TileCode expects inputs [features, code], got {input_shape}.")
        features_shape, code_shape = input_shape
        if len(features_shape) != 4 or len(code_shape) != 2:
            raise ValueError(
                "TileCode expects features (batch, H, W, C) and code (batch, K), got "
                f"{features_shape} and {code_shape}."
            )
        return features_shape, code_shape

    def build(self, input_shape):
        self._check_shapes(input_shape)

    def call(self, inputs):
        features, code = inputs
        code = ops.cast(code, features.dtype)
        if self.repeat > 1:
            code = ops.tile(code, (1, self.repeat))
        shape = ops.shape(features)
        tiled = ops.broadcast_to(
            code[:, None, None, :], (shape[0], shape[1], shape[2], ops.shape(code)[-1])
        )
        return ops.concatenate([features, tiled], axis=-1)

    def compute_output_shape(self, input_shape):
        features_shape, code_shape = self._check_shapes(input_shape)
        channels = None
        if features_shape[3] is not None and code_shape[1] is not None:
            channels = features_shape[3] + code_shape[1] * self.repeat
        return (*features_shape[:3], channels)

    def get_config(self):
        config = super().get_config()
        config.update({"repeat": self.repeat})
        return config
