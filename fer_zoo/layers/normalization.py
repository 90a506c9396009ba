"""Instance normalisation (the Keras 3 replacement of `tfa.layers.InstanceNormalization`)."""

import keras


@keras.saving.register_keras_serializable(package="fer_zoo")
class InstanceNormalization(keras.layers.GroupNormalization):
    """Normalises every channel of every sample over its spatial positions.

    A named `keras.layers.GroupNormalization(groups=-1)` (one group per channel), which is
    exactly instance normalisation; it replaces `tensorflow_addons.layers.InstanceNormalization`
    (same default `epsilon=1e-3`, learnable per-channel `gamma`/`beta`).

    Args:
        axis: int, the channel axis (`-1` for channels-last).
        epsilon: float, added to the variance to avoid dividing by zero.
        center: bool, learn a per-channel offset `beta`.
        scale: bool, learn a per-channel scale `gamma`.
        beta_initializer: initializer of `beta`.
        gamma_initializer: initializer of `gamma`.
        **kwargs: forwarded to `keras.layers.GroupNormalization` (regularizers, constraints,
            `name`, `dtype`, ...); `groups` is fixed to -1.

    Example:
    ```python
    x = InstanceNormalization()(np.random.rand(2, 16, 16, 8).astype("float32"))
    # every (sample, channel) plane of x now has mean ~0 and variance ~1
    ```

    Reference:
        Ulyanov et al., "Instance Normalization: The Missing Ingredient for Fast Stylization",
        arXiv:1607.08022, 2016 (used in the FESR and REL-GAN generators).
    """

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        **kwargs,
    ):
        groups = kwargs.pop("groups", -1)  # present in configs written by get_config
        if groups != -1:
            raise ValueError(
                f"InstanceNormalization: `groups` is always -1 (one group per channel), got "
                f"{groups!r}; use keras.layers.GroupNormalization for other group counts."
            )
        super().__init__(
            groups=-1,
            axis=axis,
            epsilon=epsilon,
            center=center,
            scale=scale,
            beta_initializer=beta_initializer,
            gamma_initializer=gamma_initializer,
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        config.pop("groups", None)
        return config
