import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_zoo.layers import losses
from fer_zoo.testing import TestCase


def linear_critic(weights, extra_output=False):
    """f(x) = <w, x>: its gradient w.r.t. x is w everywhere, so the GP is (||w|| - 1)^2."""
    inputs = keras.Input(weights.shape)
    score = keras.layers.Lambda(lambda x: keras.ops.sum(x * weights, axis=(1, 2, 3))[:, None])(
        inputs
    )
    outputs = [score, keras.layers.Flatten()(inputs)] if extra_output else score
    return keras.Model(inputs, outputs)


class GradientPenaltyTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.real = rng.uniform(-1, 1, (4, 6, 6, 1)).astype("float32")
        self.fake = rng.uniform(-1, 1, (4, 6, 6, 1)).astype("float32")
        self.weights = rng.normal(size=(6, 6, 1)).astype("float32")

    def test_zero_for_a_unit_norm_linear_critic(self):
        unit = self.weights / np.linalg.norm(self.weights)
        penalty = losses.gradient_penalty(
            linear_critic(unit), self.real, self.fake, keras.random.SeedGenerator(0)
        )
        self.assertAllClose(penalty, 0.0, atol=1e-6)

    def test_value_for_a_scaled_linear_critic(self):
        scaled = 3.0 * self.weights / np.linalg.norm(self.weights)
        penalty = losses.gradient_penalty(
            linear_critic(scaled), self.real, self.fake, keras.random.SeedGenerator(0)
        )
        self.assertAllClose(penalty, (3.0 - 1.0) ** 2, rtol=1e-5)
        self.assertEqual(keras.backend.standardize_dtype(penalty.dtype), "float32")

    def test_multiple_outputs_need_a_key(self):
        critic = linear_critic(self.weights / np.linalg.norm(self.weights), extra_output=True)
        seed = keras.random.SeedGenerator(0)
        with pytest.raises(ValueError, match="output_key"):
            losses.gradient_penalty(critic, self.real, self.fake, seed)
        penalty = losses.gradient_penalty(critic, self.real, self.fake, seed, output_key=0)
        self.assertAllClose(penalty, 0.0, atol=1e-6)

    def test_conditional_critic_and_interpolation_between_real_and_fake(self):
        # A quadratic critic's gradient (2x) depends on where x_hat lies, so the penalty changes
        # with the per-sample uniform weights; with real == fake it is fixed.
        images = keras.Input((6, 6, 1))
        labels = keras.Input((3,))
        score = keras.layers.Lambda(
            lambda t: keras.ops.sum(t[0] ** 2, axis=(1, 2, 3))[:, None] + t[1][:, :1]
        )([images, labels])
        critic = keras.Model([images, labels], score)
        labels_value = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
        same = losses.gradient_penalty(critic, self.real, self.real, 1, extra_inputs=labels_value)
        norms = 2.0 * np.sqrt((self.real**2).sum(axis=(1, 2, 3)))
        self.assertAllClose(same, np.mean((norms - 1.0) ** 2), rtol=1e-5)
        first = losses.gradient_penalty(critic, self.real, self.fake, 1, extra_inputs=labels_value)
        second = losses.gradient_penalty(critic, self.real, self.fake, 2, extra_inputs=labels_value)
        self.assertNotAllClose(first, second)

    def test_critic_ignoring_its_input_is_a_clear_error(self):
        images = keras.Input((6, 6, 1))
        labels = keras.Input((3,))
        critic = keras.Model([images, labels], keras.layers.Dense(1)(labels))
        with pytest.raises(ValueError, match="does not depend on its image input"):
            losses.gradient_penalty(
                critic, self.real, self.fake, 0, extra_inputs=np.zeros((4, 3), "float32")
            )

    def test_penalty_is_differentiable_for_the_critic_weights(self):
        critic = keras.Sequential(
            [keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(1)]
        )
        with tf.GradientTape() as tape:
            penalty = losses.gradient_penalty(critic, self.real, self.fake, 0)
        grads = tape.gradient(penalty, critic.trainable_weights)
        self.assertGreater(float(penalty), 0.0)
        self.assertGreater(float(tf.reduce_sum(tf.abs(grads[0]))), 0.0)

    def test_inside_tf_function_draws_new_weights_each_call(self):
        critic = keras.Sequential(
            [
                keras.Input((6, 6, 1)),
                keras.layers.Lambda(lambda x: keras.ops.sum(x**2, axis=(1, 2, 3))),
            ]
        )
        seed = keras.random.SeedGenerator(5)
        penalty = tf.function(lambda: losses.gradient_penalty(critic, self.real, self.fake, seed))
        first, second = float(penalty()), float(penalty())
        self.assertTrue(np.isfinite(first))
        self.assertNotEqual(first, second)

    def test_mixed_precision_critic(self):
        keras.config.set_dtype_policy("mixed_bfloat16")
        critic = keras.Sequential(
            [keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(1)]
        )
        penalty = losses.gradient_penalty(critic, self.real, self.fake, 0)
        self.assertEqual(keras.backend.standardize_dtype(penalty.dtype), "float32")
        self.assertTrue(np.isfinite(float(penalty)))


class TotalVariationTest(TestCase):
    def test_constant_image_has_none(self):
        self.assertAllClose(losses.total_variation(np.full((2, 5, 5, 3), 0.7, "float32")), [0, 0])

    def test_hand_computed_value(self):
        image = np.array([[1.0, 2.0, 4.0], [0.0, 2.0, 1.0]], "float32")[None, :, :, None]
        # vertical: |0-1| + |2-2| + |1-4| = 4; horizontal: |2-1| + |4-2| + |2-0| + |1-2| = 6.
        self.assertAllClose(losses.total_variation(image), [10.0])
        self.assertAllClose(losses.total_variation(image[0]), 10.0)
        self.assertAllClose(losses.total_variation(image, per_pixel=True), [10.0 / 6.0])

    def test_matches_tf_image(self):
        images = np.random.rand(3, 7, 9, 2).astype("float32")
        self.assertAllClose(
            losses.total_variation(images), tf.image.total_variation(tf.constant(images))
        )


class AdversarialLossTest(TestCase):
    def test_bce_losses(self):
        logits = np.array([[-2.0], [0.0], [3.0]], "float32")
        sigmoid = 1.0 / (1.0 + np.exp(-logits))
        self.assertAllClose(
            losses.nonsaturating_generator_loss(logits), np.mean(-np.log(sigmoid)), rtol=1e-5
        )
        real, fake = np.array([4.0, 1.0], "float32"), np.array([-3.0, 0.5], "float32")
        sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
        expected = np.mean(-np.log(sig(real))) + np.mean(-np.log(1.0 - sig(fake)))
        self.assertAllClose(losses.discriminator_bce_loss(real, fake), expected, rtol=1e-5)
        smoothed = np.mean(-(0.9 * np.log(sig(real)) + 0.1 * np.log(1.0 - sig(real))))
        self.assertAllClose(
            losses.discriminator_bce_loss(real, fake, label_smoothing=0.1),
            smoothed + np.mean(-np.log(1.0 - sig(fake))),
            rtol=1e-5,
        )
        # Confident, correct logits give ~0 loss; stable for huge logits (no inf/nan).
        self.assertLess(float(losses.discriminator_bce_loss([50.0], [-50.0])), 1e-6)
        self.assertAllClose(losses.nonsaturating_generator_loss([-1000.0]), 1000.0)
        with pytest.raises(ValueError, match="label_smoothing"):
            losses.discriminator_bce_loss(real, fake, label_smoothing=1.0)

    def test_least_squares_losses(self):
        real, fake = np.array([1.0, 0.5], "float32"), np.array([0.0, 1.0], "float32")
        self.assertAllClose(losses.least_squares_generator_loss(fake), 0.5 * (1.0 + 0.0) / 2)
        self.assertAllClose(
            losses.least_squares_discriminator_loss(real, fake), 0.5 * (0.25 / 2 + 1.0 / 2)
        )
        self.assertAllClose(losses.least_squares_discriminator_loss([1.0], [0.0]), 0.0)

    def test_wasserstein_losses(self):
        real, fake = np.array([2.0, 4.0], "float32"), np.array([-1.0, 0.0], "float32")
        # The critic lowers its loss by scoring real above fake.
        self.assertAllClose(losses.wasserstein_critic_loss(real, fake), -0.5 - 3.0)
        self.assertAllClose(losses.wasserstein_critic_loss(fake, real), 3.0 + 0.5)
        self.assertAllClose(losses.wasserstein_generator_loss(fake), 0.5)

    def test_half_precision_inputs_give_float32(self):
        logits = keras.ops.cast(np.array([1.0, -1.0]), "float16")
        for value in (
            losses.nonsaturating_generator_loss(logits),
            losses.discriminator_bce_loss(logits, logits),
            losses.least_squares_generator_loss(logits),
            losses.wasserstein_critic_loss(logits, logits),
            losses.total_variation(keras.ops.cast(np.ones((1, 4, 4, 1)), "bfloat16")),
        ):
            self.assertEqual(keras.backend.standardize_dtype(value.dtype), "float32")
