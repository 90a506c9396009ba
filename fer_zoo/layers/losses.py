"""Losses shared by the recipes: adversarial losses, WGAN-GP gradient penalty, total variation.

All functions take logits/scores/images in any float dtype and compute in float32, so they are
safe under `mixed_float16` / `mixed_bfloat16`; they return float32 scalars (or per-image
values for `total_variation`).

Example:
```python
from fer_zoo.layers import losses

d_loss = losses.wasserstein_critic_loss(d(real), d(fake)) + 10.0 * losses.gradient_penalty(
    d, real, fake, seed_generator=self.seed_generator
)
g_loss = losses.wasserstein_generator_loss(d(fake)) + 1e-4 * ops.mean(losses.total_variation(fake))
```
"""

import keras
import tensorflow as tf
from keras import ops


def _f32(x):
    return ops.cast(x, "float32")


def binary_crossentropy_from_logits(logits, targets):
    """Mean sigmoid cross-entropy `-t log s(x) - (1 - t) log(1 - s(x))`, numerically stable."""
    logits = _f32(logits)
    targets = ops.broadcast_to(_f32(targets), ops.shape(logits))
    # softplus(x) - t * x == the cross-entropy above, without overflow for large |x|.
    return ops.mean(ops.softplus(logits) - targets * logits)


def nonsaturating_generator_loss(fake_logits):
    """Non-saturating GAN generator loss `-log D(G(z))` = BCE(fake logits, 1).

    Args:
        fake_logits: discriminator logits on generated samples.
    """
    return binary_crossentropy_from_logits(fake_logits, 1.0)


def discriminator_bce_loss(real_logits, fake_logits, label_smoothing=0.0):
    """Standard GAN discriminator loss from logits: BCE(real, 1 - s) + BCE(fake, 0).

    Args:
        real_logits: discriminator logits on real samples.
        fake_logits: discriminator logits on generated samples.
        label_smoothing: one-sided smoothing `s` in `[0, 1)`: real targets become `1 - s`
            (Salimans et al. 2016); fake targets stay 0.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(
            f"discriminator_bce_loss: label_smoothing must be in [0, 1), got {label_smoothing}."
        )
    real_loss = binary_crossentropy_from_logits(real_logits, 1.0 - label_smoothing)
    fake_loss = binary_crossentropy_from_logits(fake_logits, 0.0)
    return real_loss + fake_loss


def least_squares_generator_loss(fake_outputs):
    """LSGAN generator loss `0.5 * mean((D(G(z)) - 1)^2)` (Mao et al. 2017)."""
    return 0.5 * ops.mean(ops.square(_f32(fake_outputs) - 1.0))


def least_squares_discriminator_loss(real_outputs, fake_outputs):
    """LSGAN discriminator loss `0.5 * (mean((D(x) - 1)^2) + mean(D(G(z))^2))`."""
    real_term = ops.mean(ops.square(_f32(real_outputs) - 1.0))
    fake_term = ops.mean(ops.square(_f32(fake_outputs)))
    return 0.5 * (real_term + fake_term)


def wasserstein_critic_loss(real_scores, fake_scores):
    """WGAN critic loss `mean(D(G(z))) - mean(D(x))` (minimised by the critic)."""
    return ops.mean(_f32(fake_scores)) - ops.mean(_f32(real_scores))


def wasserstein_generator_loss(fake_scores):
    """WGAN generator loss `-mean(D(G(z)))`."""
    return -ops.mean(_f32(fake_scores))


def _select_output(outputs, output_key):
    if output_key is not None:
        return outputs[output_key]
    if isinstance(outputs, list | tuple | dict):
        raise ValueError(
            "gradient_penalty: the critic returned several outputs; pass `output_key` (an index "
            "or dict key) naming the adversarial one."
        )
    return outputs


def gradient_penalty(
    critic,
    real,
    fake,
    seed_generator,
    output_key=None,
    extra_inputs=None,
    target_norm=1.0,
    training=True,
):
    """WGAN-GP penalty `mean((||grad_x D(x_hat)||_2 - target_norm)^2)` (unweighted).

    `x_hat = real + a * (fake - real)` with `a ~ U(0, 1)` drawn per sample (as in the keras.io
    WGAN-GP example). Multiply by the paper's weight (`lambda = 10`) in the critic loss. The
    critic must treat samples independently (no BatchNormalization in training mode), as the
    penalty is per-sample. Use inside the critic's `tf.GradientTape`: the penalty itself is
    differentiable w.r.t. the critic's weights.

    Args:
        critic: callable (a `keras.Model`) scoring images.
        real: real images `(batch, ...)`.
        fake: generated images, same shape.
        seed_generator: `keras.random.SeedGenerator` (or int seed) for the interpolation.
        output_key: for critics with several outputs, the index or dict key of the
            adversarial score (e.g. `0` for `[score, class_logits]`).
        extra_inputs: tensor or list of tensors passed after the images, for conditional
            critics called as `critic([images, *extra_inputs])`.
        target_norm: the gradient norm the penalty pulls towards (1 for WGAN-GP).
        training: passed to the critic.

    Returns:
        float32 scalar.

    Reference:
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
    """
    real = _f32(real)
    fake = _f32(fake)
    batch = ops.shape(real)[0]
    alpha_shape = (batch,) + (1,) * (len(real.shape) - 1)
    alpha = keras.random.uniform(alpha_shape, dtype="float32", seed=seed_generator)
    interpolated = real + alpha * (fake - real)
    if extra_inputs is not None:
        if not isinstance(extra_inputs, list | tuple):
            extra_inputs = [extra_inputs]
        # Keras refuses a list mixing tensors and NumPy arrays as one call argument.
        extra_inputs = [ops.convert_to_tensor(t) for t in extra_inputs]
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        inputs = interpolated if extra_inputs is None else [interpolated, *extra_inputs]
        scores = _f32(_select_output(critic(inputs, training=training), output_key))
        total = ops.sum(scores)
    grads = tape.gradient(total, interpolated)
    if grads is None:
        raise ValueError(
            "gradient_penalty: the critic's score does not depend on its image input (no "
            "gradient); check `critic`, `output_key` and `extra_inputs`."
        )
    squared = ops.sum(ops.reshape(ops.square(grads), (batch, -1)), axis=1)
    norms = ops.sqrt(squared + 1e-12)
    return ops.mean(ops.square(norms - target_norm))


def total_variation(images, per_pixel=False):
    """Anisotropic total variation of each image: sum of |vertical| + |horizontal| differences.

    Same value as `tf.image.total_variation` (and JPEM's `TV(.)` smoothness term). Take
    `ops.mean(...)` for a batch loss.

    Args:
        images: `(batch, H, W, C)` (or one `(H, W, C)` image).
        per_pixel: divide by `H * W * C`, so the weight does not depend on the image size.

    Returns:
        float32 `(batch,)` (a scalar for a single image).
    """
    images = _f32(images)
    single = len(images.shape) == 3
    if single:
        images = images[None]
    if len(images.shape) != 4:
        raise ValueError(f"total_variation expects (batch, H, W, C) images, got {images.shape}.")
    vertical = ops.sum(ops.abs(images[:, 1:] - images[:, :-1]), axis=(1, 2, 3))
    horizontal = ops.sum(ops.abs(images[:, :, 1:] - images[:, :, :-1]), axis=(1, 2, 3))
    tv = vertical + horizontal
    if per_pixel:
        shape = ops.shape(images)
        tv = tv / ops.cast(shape[1] * shape[2] * shape[3], "float32")
    return tv[0] if single else tv
