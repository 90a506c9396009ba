import keras
import numpy as np
import tensorflow as tf

from fer_zoo.layers import losses
from fer_zoo.recipes.fesr import light_cnn, models
from fer_zoo.recipes.fesr.recipe import VARIANTS, FESRRecipe, intra_class_losses
from fer_zoo.testing import TestCase

SIZE, K, BATCH = 16, 7, 4


def make_recipe(variant="JL", stage="pretrain", seed=0):
    keras.utils.set_random_seed(seed)
    cfg = models.network_config("small", image_size=SIZE)
    nets = models.build_fesgan(cfg, channels=1, num_classes=K)
    identity_net = light_cnn.build_light_cnn29(SIZE, 1, (4, 6, 8, 6, 6), (1, 1, 1, 1), embedding_dim=16)
    trunk = light_cnn.light_cnn_trunk(identity_net)
    f_id = light_cnn.light_cnn_embedder(identity_net)
    head, r_cls = models.build_recognizer_head(trunk.output_shape[1:], (8, 16), (32, 16), 0.5, K)
    recognizer, r_ext = models.build_recognizer(trunk, head, r_cls)
    recipe = FESRRecipe(
        nets["encoder"], nets["decoder"], nets["image_critic"], nets["latent_critic"], f_id, r_ext, r_cls,
        num_classes=K, variant=variant, stage=stage, seed=seed,
    )
    recipe.compile()
    recipe.identity_net, recipe.recognizer, recipe.trunk = identity_net, recognizer, trunk
    return recipe


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 1)).astype("float32"),
        "expression": np.array([0, 3, 5, 3], "int32"),
        "positive": rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 1)).astype("float32"),
    }


def snapshot(variables):
    return [np.array(v) for v in variables]


def changed(before, variables):
    return any(not np.allclose(b, np.array(v)) for b, v in zip(before, variables))


class RDBPTest(TestCase):
    def _features(self, rdbp):
        recipe = make_recipe()
        batch = make_batch()
        synthetic = np.asarray(recipe.synthesize_from_prior(np.zeros((BATCH, 64), "float32"), batch["expression"]))
        with tf.GradientTape(persistent=True) as tape:
            real = recipe.recognizer_extractor(batch["image"], training=False)
            positive = recipe.recognizer_extractor(batch["positive"], training=False)
            fake = recipe.recognizer_extractor(synthetic, training=False)
            tape.watch([real, positive, fake])
            real_real, real_synthetic = intra_class_losses(real, positive, fake, rdbp=rdbp)
        grads = tape.gradient(real_synthetic, [real, fake])
        rr_grad = tape.gradient(real_real, real)
        weight_grads = tape.gradient(real_synthetic, recipe.recognizer_extractor.trainable_variables)
        return grads, rr_grad, weight_grads

    def test_rdbp_blocks_gradient_into_real_features(self):
        (to_real, to_fake), rr_grad, weight_grads = self._features(rdbp=True)
        # eq. 18: L_rf reaches R_ext(x^{p,f}) only; R_ext(x) is a fixed target.
        self.assertTrue(to_real is None or np.allclose(to_real, 0.0))
        self.assertGreater(float(np.abs(to_fake).sum()), 0.0)
        # eq. 17: L_r (real-real) still reaches R_ext(x) normally.
        self.assertGreater(float(np.abs(rr_grad).sum()), 0.0)
        self.assertTrue(any(g is not None and float(np.abs(g).sum()) > 0 for g in weight_grads))

    def test_plain_sgd_variant_reaches_both_sides(self):
        (to_real, to_fake), _, _ = self._features(rdbp=False)
        self.assertGreater(float(np.abs(to_real).sum()), 0.0)
        self.assertGreater(float(np.abs(to_fake).sum()), 0.0)
        # Opposite pulls: d/d a ||a - b|| = -d/d b ||a - b||.
        self.assertAllClose(to_real, -to_fake, atol=1e-6)

    def test_variant_flags(self):
        self.assertTrue(VARIANTS["JL"]["rdbp"])
        self.assertFalse(VARIANTS["JL-RDBP"]["rdbp"])
        self.assertEqual(VARIANTS["JL-RDBP"], {**VARIANTS["JL"], "rdbp": False})
        self.assertEqual(VARIANTS["JL-IL"], {**VARIANTS["JL"], "intra": False})
        self.assertEqual(VARIANTS["OneSt"], {**VARIANTS["JL"], "pretrain": False})
        self.assertEqual(VARIANTS["Real"], {**VARIANTS["JL-IL"], "synthetic": "encoded"})
        self.assertEqual(make_recipe("JL-IL").loss_weights["intra_class"], 0.0)
        with self.assertRaisesRegex(ValueError, "unknown variant"):
            make_recipe("JL-XYZ")


class LossTermsTest(TestCase):
    def _gradient_reaches(self, loss_fn, variables):
        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, variables)
        return float(loss), any(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)

    def test_generator_terms_reach_the_right_networks(self):
        recipe = make_recipe(stage="joint")
        b = make_batch()
        labels = tf.constant(b["expression"])
        targets = recipe._other_labels(labels)
        self.assertFalse(np.any(np.asarray(targets) == b["expression"]))  # y' != y
        t_code = recipe.intensity_code(targets, training=True)
        o_code = recipe.intensity_code(labels, training=True)
        prior = recipe._sample_prior(BATCH)
        enc, dec = recipe.encoder.trainable_variables, recipe.decoder.trainable_variables

        with tf.GradientTape(persistent=True) as tape:
            _, terms = recipe.generator_losses(b["image"], labels, targets, t_code, o_code, prior)

        def reaches(name, variables):
            grads = tape.gradient(terms[name], variables)
            return any(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)

        expectations = {  # term: (reaches encoder, reaches decoder)
            "g_adv_img": (True, True),
            "g_adv_z": (True, False),
            "reconstruction": (True, True),
            "identity": (True, True),
            "g_cls_fake_d": (True, True),
            "g_cls_fake_r": (False, True),  # x^{p,f} = G_dec([z, u(y)]) never sees G_enc
        }
        self.assertEqual(set(terms), set(expectations))
        for name, (to_enc, to_dec) in expectations.items():
            self.assertTrue(np.isfinite(float(terms[name])), name)
            self.assertEqual(reaches(name, enc), to_enc, f"{name} -> encoder")
            self.assertEqual(reaches(name, dec), to_dec, f"{name} -> decoder")
        # The identity net (F_id / frozen trunk) is never a target of G's loss.
        self.assertEqual(recipe.identity_features.trainable_weights, [])
        total, terms = recipe.generator_losses(b["image"], labels, targets, t_code, o_code, prior)
        w = recipe.loss_weights
        expected = (
            terms["g_adv_img"] + w["latent_adversarial"] * terms["g_adv_z"]
            + w["reconstruction"] * terms["reconstruction"] + w["identity"] * terms["identity"]
            + w["fake_classification"] * (terms["g_cls_fake_d"] + terms["g_cls_fake_r"])
        )
        self.assertAllClose(total, expected, rtol=1e-5)  # eq. 25

    def test_critic_losses(self):
        recipe = make_recipe()
        b = make_batch()
        labels = tf.constant(b["expression"])
        prior = recipe._sample_prior(BATCH)
        # eq. 7 by hand; no gradient to G_enc (D_z's update must not move the encoder).
        d_z = recipe.latent_critic_loss(b["image"], prior)
        p_real = np.asarray(recipe.latent_critic(prior))
        p_fake = np.asarray(recipe.latent_critic(recipe.encoder(b["image"])))
        self.assertAllClose(d_z, -np.mean(np.log(p_real)) - np.mean(np.log(1 - p_fake)), rtol=1e-4)
        _, reaches = self._gradient_reaches(lambda: recipe.latent_critic_loss(b["image"], prior),
                                            recipe.encoder.trainable_variables)
        self.assertFalse(reaches)
        code = recipe.intensity_code(recipe._other_labels(labels), training=True)
        _, reaches = self._gradient_reaches(
            lambda: tf.add_n(list(recipe.image_critic_losses(b["image"], labels, code)[:3])),
            recipe.encoder.trainable_variables + recipe.decoder.trainable_variables,
        )
        self.assertFalse(reaches)
        wasserstein, penalty, cls_real, accuracy = recipe.image_critic_losses(b["image"], labels, code)
        self.assertGreaterEqual(float(penalty), 0.0)
        self.assertBetween(float(accuracy), 0.0, 1.0)

    def test_recognizer_terms(self):
        recipe = make_recipe(stage="joint")
        b = make_batch()
        prior = recipe._sample_prior(BATCH)
        total, terms = recipe.recognizer_losses(b["image"], tf.constant(b["expression"]), b["positive"], prior)
        self.assertAllClose(terms["intra_class"], terms["dist_real_real"] + terms["dist_real_synthetic"])
        self.assertAllClose(
            total, terms["r_cls_real"] + terms["r_cls_fake"] + 0.001 * terms["intra_class"], rtol=1e-5
        )  # eq. 26 with lambda6 = 0.001
        baseline = make_recipe("BASELINE", stage="joint")
        _, terms = baseline.recognizer_losses(b["image"], tf.constant(b["expression"]), b["positive"], prior)
        self.assertEqual(set(terms), {"r_cls_real", "r_accuracy"})

    def test_gradient_penalty_uses_uniform_interpolation(self):
        # Critic D(x) = 0.5 * x^2 on scalars: |grad D(x_hat)| = x_hat = a * s for real = 0,
        # fake = s, so the penalty is E[(a s - 1)^2] = s^2 / 3 - s + 1 for a ~ U(0, 1).
        inputs = keras.Input((1,))
        critic = keras.Model(inputs, keras.layers.Lambda(lambda t: 0.5 * t**2)(inputs))
        s = 3.0
        real = np.zeros((20000, 1), "float32")
        fake = np.full((20000, 1), s, "float32")
        penalty = losses.gradient_penalty(critic, real, fake, keras.random.SeedGenerator(0))
        self.assertAllClose(penalty, s**2 / 3 - s + 1, rtol=0.03)


class StepTest(TestCase):
    def _step(self, variant, stage):
        recipe = make_recipe(variant, stage)
        groups = {name: recipe.optimizer_variables_for(name) for name in recipe.optimizer_names}
        groups["trunk"] = recipe.trunk.weights
        groups["identity"] = recipe.identity_net.weights
        before = {k: snapshot(v) for k, v in groups.items()}
        logs = recipe.train_step(make_batch())
        for value in logs.values():
            self.assertTrue(np.isfinite(float(value)))
        return {k: changed(before[k], v) for k, v in groups.items()}, logs

    def test_pretrain_updates_fesgan_only(self):
        moved, logs = self._step("JL", "pretrain")
        self.assertEqual(moved, {"g": True, "d_img": True, "d_z": True, "r": False, "trunk": False, "identity": False})
        self.assertNotIn("r_loss", logs)

    def test_joint_updates_everything_but_the_frozen_trunk(self):
        moved, logs = self._step("JL", "joint")
        self.assertEqual(moved, {"g": True, "d_img": True, "d_z": True, "r": True, "trunk": False, "identity": False})
        for key in ("g_cls_fake_r", "intra_class", "dist_real_synthetic", "r_cls_fake", "gradient_penalty"):
            self.assertIn(key, logs)

    def test_baseline_and_separate_learning_train_only_r(self):
        for variant in ("BASELINE", "SL"):
            moved, logs = self._step(variant, "joint")
            self.assertEqual(
                moved, {"g": False, "d_img": False, "d_z": False, "r": True, "trunk": False, "identity": False}, variant
            )
        self.assertIn("r_cls_fake", logs)  # SL still feeds synthetic images to R

    def test_mixed_bfloat16_step(self):
        keras.config.set_dtype_policy("mixed_bfloat16")
        recipe = make_recipe("JL", "joint")
        logs = recipe.train_step(make_batch())
        self.assertEqual(recipe.decoder.get_layer("deconv1").compute_dtype, "bfloat16")
        self.assertTrue(all(v.dtype == "float32" for v in recipe.optimizer_variables_for("g")))
        for value in logs.values():
            self.assertTrue(np.isfinite(float(value)))

    def test_fit_lowers_recognizer_loss_and_test_step(self):
        recipe = make_recipe("BASELINE", "joint")
        recipe.r_optimizer.learning_rate.assign(1e-3)
        b = make_batch()
        ds = tf.data.Dataset.from_tensors(b).repeat(15)
        first = recipe.evaluate(tf.data.Dataset.from_tensors(b), verbose=0, return_dict=True)
        recipe.fit(ds, epochs=1, verbose=0)
        last = recipe.evaluate(tf.data.Dataset.from_tensors(b), verbose=0, return_dict=True)
        self.assertLess(last["r_loss_eval"], first["r_loss_eval"])
        with self.assertRaisesRegex(ValueError, "positive"):
            recipe.train_step({"image": b["image"], "expression": b["expression"]})

    def test_recognizer_saves_and_loads_with_safe_mode(self):
        recipe = make_recipe()
        path = self.get_temp_dir() + "/r.keras"
        recipe.recognizer.save(path)
        loaded = keras.models.load_model(path, safe_mode=True)
        x = make_batch()["image"]
        self.assertAllClose(loaded.predict(x, verbose=0), recipe.recognizer.predict(x, verbose=0), atol=1e-6)
        self.assertEqual(loaded.trainable_weights.__len__(), recipe.recognizer.trainable_weights.__len__())
