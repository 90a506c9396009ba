"""Tests of the REL-GAN recipe: loss terms of eqs. (1)-(4), the fake class, optimizer scopes,
the G-priority schedule."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_zoo.recipes.relgan import models
from fer_zoo.recipes.relgan.recipe import (
    PAPER_LOSS_WEIGHTS,
    RELGAN,
    DExpressionMonitor,
    GeneratorPriority,
    classification_loss,
    fake_class_loss,
    not_fake_loss,
    pixel_loss,
)
from fer_zoo.testing import TestCase

SMALL = dict(models.NETWORK_CONFIGS["small"])


def random_triplets(n=4, size=32, identities=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "source": rng.uniform(-1, 1, (n, size, size, 1)).astype("float32"),
        "target": rng.uniform(-1, 1, (n, size, size, 1)).astype("float32"),
        "ground_truth": rng.uniform(-1, 1, (n, size, size, 1)).astype("float32"),
        "source_expression": rng.integers(0, 7, n).astype("int32"),
        "target_identity": rng.integers(0, identities, n).astype("int32"),
    }


def make_recipe(g_lr=1e-3, d_lr=1e-3, **kwargs):
    recipe = RELGAN(num_identities=3, seed=0, **{**SMALL, **kwargs})
    recipe.compile(
        g_optimizer=keras.optimizers.Adam(g_lr, beta_1=0.5),
        d_optimizer=keras.optimizers.Adam(d_lr, beta_1=0.5),
    )
    # Tracing the unrolled multi-network step costs far more than a few eager steps of 32 px.
    recipe.run_eagerly = True
    return recipe


def snapshot(variables):
    return [v.numpy().copy() for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def log_softmax(logits):
    logits = logits - logits.max(axis=-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))


class RelganLossTermsTest(TestCase):
    def test_classification_and_fake_class_losses(self):
        logits = np.array([[2.0, 0.5, -1.0, 0.1], [0.0, 1.0, 3.0, -2.0]], "float32")
        ls = log_softmax(logits)
        self.assertAllClose(classification_loss(np.array([1, 2]), logits), -(ls[0, 1] + ls[1, 2]) / 2)
        # The fake class is D_e's last index (N_e): eq. (1)'s log D_e[N_e + 1](G(x_s, x_t)).
        self.assertAllClose(fake_class_loss(logits), -(ls[0, 3] + ls[1, 3]) / 2)
        p_fake = np.exp(ls[:, 3])
        self.assertAllClose(not_fake_loss(logits), np.mean(-np.log(1 - p_fake)), atol=1e-6)
        # A D sure that x is fake gives D a ~0 loss and G a large "look real" loss.
        sure_fake = np.array([[0.0, 0.0, 0.0, 20.0]], "float32")
        self.assertLess(float(fake_class_loss(sure_fake)), 1e-6)
        self.assertGreater(float(not_fake_loss(sure_fake)), 15.0)

    def test_pixel_loss_is_l1(self):
        a = np.zeros((1, 2, 2, 1), "float32")
        b = np.array([0.5, -0.5, 1.0, 0.0], "float32").reshape(1, 2, 2, 1)
        self.assertAllClose(pixel_loss(a, b), 0.5)

    def test_generator_loss_is_eq4_with_paper_lambdas(self):
        recipe = make_recipe()
        self.assertEqual(
            recipe.loss_weights, {"adversarial": 0.7, "pixel": 20.0, "expression": 50.0, "identity": 30.0}
        )
        data = random_triplets()
        terms, generated = recipe.generator_losses(data)
        expected = (
            0.7 * terms["g_adv_loss"]
            + 20.0 * terms["g_pixel_loss"]
            + 50.0 * terms["g_expression_loss"]
            + 30.0 * terms["g_identity_loss"]
        )
        self.assertAllClose(terms["g_loss"], expected)
        # L_De / L_Di of eq. (4) are D's classification of x̄ into y_s^e / y_t^i (eq. 2).
        expr_logits, id_logits = recipe.discriminator(generated)
        self.assertAllClose(
            terms["g_expression_loss"], classification_loss(data["source_expression"], expr_logits)
        )
        self.assertAllClose(
            terms["g_identity_loss"], classification_loss(data["target_identity"], id_logits)
        )
        self.assertAllClose(terms["g_pixel_loss"], np.abs(generated - data["ground_truth"]).mean())
        with pytest.raises(ValueError, match="Unknown loss weight"):
            RELGAN(num_identities=3, loss_weights={"gan": 1.0}, **SMALL)
        self.assertEqual(set(PAPER_LOSS_WEIGHTS), {"adversarial", "pixel", "expression", "identity"})

    def test_adversarial_warmup_ramps_only_the_terms_through_d(self):
        recipe = make_recipe(adversarial_warmup_steps=4)
        data = random_triplets()
        terms, _ = recipe.generator_losses(data)
        self.assertAllClose(terms["g_loss"], 20.0 * terms["g_pixel_loss"])  # step 0: pixel only
        recipe.g_optimizer.iterations.assign(2)
        terms, _ = recipe.generator_losses(data)
        half = 0.5 * (
            0.7 * terms["g_adv_loss"] + 50.0 * terms["g_expression_loss"] + 30.0 * terms["g_identity_loss"]
        )
        self.assertAllClose(terms["g_loss"], 20.0 * terms["g_pixel_loss"] + half)
        self.assertEqual(recipe.get_config()["adversarial_warmup_steps"], 4)

    def test_discriminator_loss_is_eq1(self):
        recipe = make_recipe()
        data = random_triplets()
        generated = recipe.reenact(data["source"], data["target"])
        terms = recipe.discriminator_losses(data, generated)
        src_logits, _ = recipe.discriminator(data["source"])
        _, tgt_id_logits = recipe.discriminator(data["target"])
        fake_logits, _ = recipe.discriminator(generated)
        fake_labels = np.full(4, 7)  # N_e = 7 expressions -> fake index 7
        self.assertAllClose(terms["d_fake_loss"], classification_loss(fake_labels, fake_logits))
        self.assertAllClose(
            terms["d_expression_loss"], classification_loss(data["source_expression"], src_logits)
        )
        self.assertAllClose(
            terms["d_identity_loss"], classification_loss(data["target_identity"], tgt_id_logits)
        )
        self.assertAllClose(
            terms["d_loss"], terms["d_fake_loss"] + terms["d_expression_loss"] + terms["d_identity_loss"]
        )

    def test_bad_batch_is_rejected_with_the_missing_keys(self):
        recipe = make_recipe()
        data = random_triplets()
        del data["ground_truth"]
        with pytest.raises(KeyError, match="ground_truth"):
            recipe.train_step(data)


class RelganTrainingTest(TestCase):
    def test_each_optimizer_updates_only_its_networks(self):
        recipe = make_recipe()
        g_vars, d_vars = recipe.optimizer_variables_for("g"), recipe.optimizer_variables_for("d")
        self.assertEqual(len(g_vars) + len(d_vars), len(recipe.trainable_variables))
        self.assertFalse({id(v) for v in g_vars} & {id(v) for v in d_vars})
        data = random_triplets()

        # G frozen by a zero learning rate: only D moves (Adam with lr 0 leaves weights exact).
        recipe = make_recipe(g_lr=0.0)
        g_before, d_before = snapshot(recipe.optimizer_variables_for("g")), snapshot(recipe.optimizer_variables_for("d"))
        recipe.train_step(data)
        self.assertFalse(any(changed(g_before, recipe.optimizer_variables_for("g"))))
        self.assertTrue(all(changed(d_before, recipe.optimizer_variables_for("d"))))

        recipe = make_recipe(d_lr=0.0)
        g_before, d_before = snapshot(recipe.optimizer_variables_for("g")), snapshot(recipe.optimizer_variables_for("d"))
        recipe.train_step(data)
        self.assertFalse(any(changed(d_before, recipe.optimizer_variables_for("d"))))
        # every encoder/decoder variable (both encoders included) gets a G update
        self.assertTrue(all(changed(g_before, recipe.optimizer_variables_for("g"))))

    def test_generator_gradients_reach_both_encoders_and_d_loss_does_not_reach_g(self):
        recipe = make_recipe()
        data = random_triplets()
        with tf.GradientTape(persistent=True) as tape:
            terms, generated = recipe.generator_losses(data, training=True)
            d_terms = recipe.discriminator_losses(data, tf.stop_gradient(generated), training=True)
        pix = tape.gradient(terms["g_pixel_loss"], recipe.expression_encoder.trainable_variables)
        ident = tape.gradient(terms["g_identity_loss"], recipe.identity_encoder.trainable_variables)
        self.assertTrue(all(g is not None for g in pix + ident))
        d_to_g = tape.gradient(d_terms["d_loss"], recipe.optimizer_variables_for("g"))
        self.assertTrue(all(g is None for g in d_to_g))

    def test_generator_priority_schedule_and_pixel_loss_decreases(self):
        recipe = make_recipe(g_lr=2e-3)
        data = random_triplets(n=4)
        # same target image as ground truth: an identity mapping the G can learn fast
        data["ground_truth"] = data["target"]
        ds = tf.data.Dataset.from_tensor_slices(data).batch(2)  # 2 batches per epoch
        schedule = GeneratorPriority(g_steps=3, after_steps=1)
        history = recipe.fit(ds, epochs=2, verbose=0, callbacks=[schedule])
        self.assertEqual(int(recipe.d_optimizer.iterations.numpy()), 4)
        # 1 G step before the switch (after D's first step), then 3 per D step for 3 batches
        self.assertEqual(int(recipe.g_optimizer.iterations.numpy()), 1 + 3 * 3)
        self.assertEqual(schedule.switched_at, 1)
        pixel = history.history["g_pixel_loss"]
        self.assertLess(pixel[-1], pixel[0])
        logs = recipe.evaluate(ds, verbose=0, return_dict=True)
        self.assertIn("g_loss", logs)
        self.assertIn("d_fake_loss", logs)

    def test_schedule_by_d_loss_threshold(self):
        recipe = make_recipe()
        ds = tf.data.Dataset.from_tensor_slices(random_triplets(n=4)).batch(2)
        schedule = GeneratorPriority(g_steps=2, d_loss_below=1e9)  # any D loss qualifies
        recipe.fit(ds, epochs=1, verbose=0, callbacks=[schedule])
        self.assertEqual(int(recipe.g_optimizer.iterations.numpy()), 1 + 2)


def separable_triplets(n=48, size=32, identities=3, expressions=3, seed=0):
    """Toy faces: identity = background level, expression = which band holds a bright patch."""
    rng = np.random.default_rng(seed)
    faces, expr, ident = [], [], []
    for i in range(identities):
        for e in range(expressions):
            face = np.full((size, size, 1), -0.6 + 0.3 * i, np.float32)
            face[4 + 8 * e : 12 + 8 * e, 8:24] = 0.9
            faces.append(face + rng.normal(0, 0.05, face.shape).astype(np.float32))
            expr.append(e)
            ident.append(i)
    faces, expr, ident = np.stack(faces), np.array(expr, "int32"), np.array(ident, "int32")
    src, tgt = rng.integers(0, len(faces), n), rng.integers(0, len(faces), n)
    truth = [
        int(np.nonzero((ident == ident[t]) & (expr == expr[s]))[0][0]) for s, t in zip(src, tgt)
    ]
    data = {
        "source": faces[src],
        "target": faces[tgt],
        "ground_truth": faces[truth],
        "source_expression": expr[src],
        "target_identity": ident[tgt],
    }
    return data, faces, expr


class RelganDiscriminatorWarmupTest(TestCase):
    def test_d_warmup_teaches_d_e_real_expressions_before_g_starts(self):
        # The defect of issue 7: D_e stayed at chance on real faces in every run, so G_es got
        # no expression signal. With the warm-up D_e must read real expressions before G moves.
        keras.utils.set_random_seed(0)
        data, faces, expr = separable_triplets(n=32)
        recipe = RELGAN(num_identities=3, num_expressions=3, seed=0, **SMALL)
        recipe.compile(
            g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
            d_optimizer=keras.optimizers.Adam(3e-3, beta_1=0.5),
        )
        recipe.run_eagerly = True
        ds = tf.data.Dataset.from_tensor_slices(data).batch(8)  # 4 batches per epoch
        schedule = GeneratorPriority(g_steps=2, d_warmup_steps=8)
        monitor = DExpressionMonitor(faces, expr, every=4)
        recipe.fit(ds, epochs=3, verbose=0, callbacks=[schedule, monitor])
        self.assertEqual(int(recipe.d_optimizer.iterations.numpy()), 12)
        self.assertEqual(int(recipe.g_optimizer.iterations.numpy()), 12 - 8)  # G idle in warm-up
        self.assertEqual(schedule.warmup_ended_at, 8)
        by_step = {h["d_step"]: h for h in monitor.history}
        self.assertEqual(sorted(by_step), [0, 4, 8, 12])
        chance = 1.0 / 3
        self.assertAlmostEqual(by_step[0]["real_class_accuracy"], chance, delta=0.34)
        # Real faces: right expression (argmax over all N_e + 1 outputs), not "fake".
        self.assertGreater(by_step[8]["accuracy"], 0.9)
        self.assertLess(by_step[8]["p_fake"], 0.2)
        self.assertLess(by_step[8]["cross_entropy"], np.log(3 + 1))
        self.assertGreater(by_step[12]["accuracy"], chance + 0.2)  # still learned with G running

    def test_default_configs_warm_d_up(self):
        from fer_zoo.recipes.relgan.train import CONFIGS, DEMO_OVERRIDES

        for name, config in CONFIGS.items():
            self.assertGreater(config["d_warmup_steps"], 0, name)
        self.assertGreater({**CONFIGS["small"], **DEMO_OVERRIDES}["d_warmup_steps"], 0)
        with pytest.raises(ValueError, match="d_warmup_steps"):
            GeneratorPriority(d_warmup_steps=-1)


class RelganPrecisionTest(TestCase):
    def test_mixed_bfloat16_step_keeps_float32_variables_and_outputs(self):
        keras.config.set_dtype_policy("mixed_bfloat16")
        recipe = make_recipe()
        logs = recipe.train_step(random_triplets())
        self.assertTrue(all(np.isfinite(float(v)) for v in logs.values()))
        self.assertTrue(all(v.dtype == "float32" for v in recipe.trainable_variables))
        generated = recipe.reenact(random_triplets()["source"], random_triplets()["target"])
        self.assertEqual(generated.dtype, "float32")  # the image layer computes in float32
        expr_logits, _ = recipe.discriminator(generated)
        self.assertEqual(expr_logits.dtype, "float32")
