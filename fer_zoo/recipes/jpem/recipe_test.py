import keras
import numpy as np
from absl.testing import parameterized

from fer_zoo.layers.losses import (
    discriminator_bce_loss,
    nonsaturating_generator_loss,
    total_variation,
)
from fer_zoo.recipes.jpem.models_test import tiny_networks
from fer_zoo.recipes.jpem.recipe import (
    JPEMRecipe,
    classification_loss,
    default_optimizers,
    l1_content_loss,
    sample_uniform_prior,
)
from fer_zoo.testing.test_case import TestCase

NETWORK_OF = {
    "g": ("encoder", "decoder"),
    "d_att": ("att_discriminator",),
    "d_i": ("identity_discriminator",),
    "c": ("classifier",),
}


def tiny_recipe(**kwargs):
    return JPEMRecipe(**tiny_networks(num_poses=3), num_expressions=7, num_poses=3, seed=0, **kwargs)


def tiny_batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (n, 16, 16, 1)).astype("float32")
    labels = {
        "expression": rng.integers(0, 7, n).astype("int32"),
        "pose": rng.integers(0, 3, n).astype("int32"),
        "target_image": rng.uniform(-1, 1, (n, 16, 16, 1)).astype("float32"),
        "target_expression": rng.integers(0, 7, n).astype("int32"),
        "target_pose": rng.integers(0, 3, n).astype("int32"),
    }
    return images, labels


class JPEMLossTest(TestCase):
    def test_l1_content_loss_by_hand(self):
        generated = np.array([[[[0.5], [-1.0]], [[0.0], [1.0]]]], "float32")
        target = np.array([[[[0.0], [-1.0]], [[1.0], [0.5]]]], "float32")
        self.assertAllClose(l1_content_loss(generated, target), (0.5 + 0 + 1 + 0.5) / 4)

    def test_weighted_l1_by_hand(self):
        generated = np.array([[[[0.5], [-1.0]], [[0.0], [1.0]]]], "float32")
        target = np.array([[[[0.0], [-1.0]], [[1.0], [0.5]]]], "float32")
        weights = np.array([[[2.0], [1.0]], [[0.5], [0.5]]], "float32")  # mean 1
        self.assertAllClose(l1_content_loss(generated, target, weights), (1.0 + 0 + 0.5 + 0.25) / 4)

    def test_total_variation_by_hand(self):
        # |1-0| + |3-2| vertical, |2-0| + |3-1| horizontal = 6 over 4 pixels.
        image = np.array([[[[0.0], [2.0]], [[1.0], [3.0]]]], "float32")
        self.assertAllClose(total_variation(image), [6.0])
        self.assertAllClose(total_variation(image, per_pixel=True), [1.5])

    def test_classification_loss_by_hand(self):
        probs = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]], "float32")
        self.assertAllClose(classification_loss(probs, [0, 2]), -(np.log(0.7) + np.log(0.5)) / 2, atol=1e-5)

    def test_adversarial_signs(self):
        confident = discriminator_bce_loss(np.full((4, 1), 5.0), np.full((4, 1), -5.0))
        fooled = discriminator_bce_loss(np.full((4, 1), -5.0), np.full((4, 1), 5.0))
        self.assertLess(float(confident), 0.02)
        self.assertGreater(float(fooled), 5.0)
        # The generator's loss falls as D scores its faces as real.
        self.assertLess(float(nonsaturating_generator_loss(np.full((4, 1), 5.0))), 0.01)
        self.assertGreater(float(nonsaturating_generator_loss(np.full((4, 1), -5.0))), 5.0)

    def test_uniform_prior(self):
        samples = keras.ops.convert_to_numpy(sample_uniform_prior((4000, 50), seed=keras.random.SeedGenerator(1)))
        self.assertEqual(samples.shape, (4000, 50))
        self.assertGreaterEqual(samples.min(), -1.0)
        self.assertLessEqual(samples.max(), 1.0)
        self.assertAllClose(samples.mean(), 0.0, atol=0.01)
        self.assertAllClose(samples.std(), 1 / np.sqrt(3), atol=0.01)  # U(-1, 1), not N(0, 1)
        self.assertLess(samples.min(), -0.99)
        self.assertGreater(samples.max(), 0.99)


class JPEMRecipeTest(TestCase):
    @parameterized.named_parameters(("g", "g"), ("d_att", "d_att"), ("d_i", "d_i"), ("c", "c"))
    def test_each_optimizer_updates_only_its_networks(self, active):
        recipe = tiny_recipe()
        recipe.compile(
            **{
                f"{name}_optimizer": keras.optimizers.Adam(1e-2 if name == active else 0.0)
                for name in recipe.optimizer_names
            }
        )
        before = {
            key: [v.numpy().copy() for v in getattr(recipe, key).trainable_variables]
            for keys in NETWORK_OF.values() for key in keys
        }
        logs = recipe.train_step(tiny_batch())
        for name, keys in NETWORK_OF.items():
            for key in keys:
                after = [v.numpy() for v in getattr(recipe, key).trainable_variables]
                changed = any(not np.array_equal(a, b) for a, b in zip(before[key], after))
                self.assertEqual(changed, name == active, f"{key} changed={changed} with only {active} active")
        for key in ("d_att_loss", "d_i_loss", "g_loss", "l1_loss", "tv_loss", "g_att_loss", "g_i_loss",
                    "c_generated_loss", "c_loss", "c_real_loss", "c_accuracy"):
            self.assertTrue(np.isfinite(float(logs[key])), key)

    def test_g_loss_is_eq7_sum(self):
        recipe = tiny_recipe(alpha=2.0, beta=0.5, classification_weight=0.3, att_adversarial_weight=0.2,
                             identity_adversarial_weight=0.1)
        recipe.compile(**{f"{n}_optimizer": keras.optimizers.Adam(0.0) for n in recipe.optimizer_names})
        logs = recipe.test_step(tiny_batch())
        expected = (2.0 * logs["l1_loss"] + 0.5 * logs["tv_loss"] + 0.3 * logs["c_generated_loss"]
                    + 0.2 * logs["g_att_loss"] + 0.1 * logs["g_i_loss"])
        self.assertAllClose(logs["g_loss"], expected, atol=1e-5)

    def test_pixel_weights_per_target_pose_and_term_gradients(self):
        maps = np.ones((3, 16, 16, 1), "float32")
        maps[1] = 0.0
        maps[1, :8] = 2.0  # pose 1: only the top half counts
        recipe = tiny_recipe(pixel_weights=maps, classifier_generated_weight=0.0)
        recipe.compile(**{f"{n}_optimizer": keras.optimizers.Adam(0.0) for n in recipe.optimizer_names})
        images, labels = tiny_batch()
        labels["target_pose"] = np.array([1, 1, 0, 2], "int32")
        generated = recipe.generate(images, labels["target_expression"], labels["target_pose"])
        difference = np.abs(np.asarray(generated) - labels["target_image"])
        expected = np.mean(difference * maps[labels["target_pose"]])
        logs = recipe.test_step((images, labels))
        self.assertAllClose(logs["l1_weighted_loss"], expected, atol=1e-6)
        self.assertAllClose(logs["l1_loss"], difference.mean(), atol=1e-6)
        self.assertAllClose(logs["c_loss"], logs["c_real_loss"], atol=1e-6)  # generated faces not in C's loss
        norms = recipe.term_gradient_norms((images, labels))
        self.assertEqual(set(norms), {"grad_l1", "grad_tv", "grad_c", "grad_att", "grad_i"})
        self.assertGreater(norms["grad_l1"], 0.0)
        self.assertEqual(JPEMRecipe.from_config(recipe.get_config()).pixel_weights.shape, (3, 16, 16, 1))

    def test_content_loss_targets_the_paired_face(self):
        recipe = tiny_recipe()
        images, labels = tiny_batch()
        paired = recipe.test_step((images, labels))["l1_loss"]
        recipe.reset_metrics()
        generated = recipe.generate(images, labels["target_expression"], labels["target_pose"])
        self.assertAllClose(paired, l1_content_loss(generated, labels["target_image"]), atol=1e-6)
        # Without a target the loss is a reconstruction of the input with its own codes.
        plain = {"expression": labels["expression"], "pose": labels["pose"]}
        recipe.reset_metrics()
        reconstruction = recipe.test_step((images, plain))["l1_loss"]
        own = recipe.generate(images, labels["expression"], labels["pose"])
        self.assertAllClose(reconstruction, l1_content_loss(own, images), atol=1e-6)

    def test_reconstruction_improves(self):
        recipe = tiny_recipe(att_adversarial_weight=0.0, identity_adversarial_weight=0.0, classification_weight=0.0)
        recipe.compile(**default_optimizers(learning_rate=2e-3))
        images, labels = tiny_batch()
        batch = (images, {"expression": labels["expression"], "pose": labels["pose"]})
        first = float(recipe.train_step(batch)["l1_loss"])
        for _ in range(3):
            recipe.reset_metrics()
            last = float(recipe.train_step(batch)["l1_loss"])
        self.assertLess(last, first)

    def test_config_round_trip(self):
        recipe = tiny_recipe(alpha=3.0)
        clone = JPEMRecipe.from_config(recipe.get_config())
        self.assertEqual(clone.alpha, recipe.alpha)
        self.assertEqual(clone.encoder.count_params(), recipe.encoder.count_params())
