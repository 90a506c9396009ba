import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_zoo.recipes.gasca.models import GASCANetworks
from fer_zoo.recipes.gasca.recipe import AdversarialAutoencoder, ClassifierFineTune
from fer_zoo.testing import TestCase

TINY = {"image_size": 16, "filters": (2, 4, 4, 4), "shifting_units": 16}


def _pairs(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 16, 16, 1)).astype("float32")
    # A smooth "face-like" target shared by all inputs plus a per-input mirrored trace of it.
    ramp = np.linspace(-0.8, 0.8, 16, dtype="float32")
    y = (ramp[None, :, None, None] * ramp[None, None, :, None] + 0.1 * x[:, :, ::-1]).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(n)


def _snapshot(model):
    return [np.array(v) for v in model.trainable_variables]


def _changed(before, model):
    return any(not np.allclose(a, np.array(b)) for a, b in zip(before, model.trainable_variables))


def _stage(nets, k=1, g_lr=1e-2, d_lr=1e-2, stacked=False, **kwargs):
    g = nets.stacked_generator(k) if stacked else nets.shallow_autoencoder(k)
    d = nets.stacked_discriminator(k) if stacked else nets.shallow_discriminator(k)
    stage = AdversarialAutoencoder(g, d, seed=0, **kwargs)
    stage.compile(g_optimizer=keras.optimizers.Adam(g_lr), d_optimizer=keras.optimizers.SGD(d_lr, momentum=0.9, nesterov=True))
    return stage


class AdversarialAutoencoderTest(TestCase):
    def test_g_step_moves_only_g_and_d_step_only_d(self):
        nets = GASCANetworks(**TINY)
        # D's optimizer has lr 0: the G step (reconstruction + minimax) must not move D.
        stage = _stage(nets, g_lr=1e-2, d_lr=0.0)
        g0, d0 = _snapshot(stage.generator), _snapshot(stage.discriminator)
        stage.fit(_pairs(), epochs=1, verbose=0)
        self.assertTrue(_changed(g0, stage.generator))
        self.assertFalse(_changed(d0, stage.discriminator))
        # G's optimizer has lr 0: the D step must not move G.
        stage = _stage(nets, g_lr=0.0, d_lr=1e-2)
        g0, d0 = _snapshot(stage.generator), _snapshot(stage.discriminator)
        stage.fit(_pairs(), epochs=1, verbose=0)
        self.assertFalse(_changed(g0, stage.generator))
        self.assertTrue(_changed(d0, stage.discriminator))

    def test_generator_only_step_skips_d_and_makes_the_same_g_update(self):
        # No adversarial term and D frozen: D contributes nothing, so the recipe skips it (a
        # faster step) and logs no D terms; G's update is the one the full step makes.
        nets = GASCANetworks(**TINY)
        generator = nets.shallow_autoencoder(1)
        start = [np.array(v) for v in generator.get_weights()]
        updates = []
        for train_d in (False, True):
            generator.set_weights(start)
            stage = AdversarialAutoencoder(generator, nets.shallow_discriminator(1), adversarial_weight=0.0,
                                           train_discriminator=train_d, seed=0)
            stage.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.SGD(1e-2))
            self.assertEqual(stage.uses_discriminator, train_d)
            history = stage.fit(_pairs(), epochs=2, verbose=0).history
            self.assertEqual("d_loss" in history, train_d)
            self.assertIn("output_std", history)
            self.assertEqual("d_loss" in stage.evaluate(_pairs(), verbose=0, return_dict=True), train_d)
            updates.append([np.array(v) for v in generator.get_weights()])
        self.assertTrue(any(not np.allclose(a, b) for a, b in zip(start, updates[0])))
        for a, b in zip(*updates):
            self.assertAllClose(a, b, atol=1e-6)

    def test_reconstruction_norm_l1_and_l2(self):
        nets = GASCANetworks(**TINY)
        x, y = next(iter(_pairs()))
        out = np.asarray(nets.shallow_autoencoder(1)(x))
        for norm, expected in (("l1", np.abs(y - out).mean()), ("l2", np.square(y - out).mean())):
            stage = _stage(nets, reconstruction_norm=norm)
            metrics = stage.evaluate(x, y, verbose=0, return_dict=True)
            self.assertAllClose(metrics["reconstruction_loss"], expected, rtol=1e-4)
            self.assertEqual(stage.get_config()["reconstruction_norm"], norm)
        with pytest.raises(ValueError, match="reconstruction_norm"):
            _stage(nets, reconstruction_norm="l3")

    def test_finetune_stages_freeze_the_other_network(self):
        nets = GASCANetworks(**TINY)
        # Algorithm 1, line 10: fine-tune the stacked G on raw pixels, D fixed.
        stage = _stage(nets, k=2, stacked=True, train_discriminator=False)
        g0, d0 = _snapshot(stage.generator), _snapshot(stage.discriminator)
        stage.fit(_pairs(), epochs=1, verbose=0)
        self.assertTrue(_changed(g0, stage.generator))
        self.assertFalse(_changed(d0, stage.discriminator))
        # Line 12: fine-tune the stacked D on (G(x_phi), x_mu), G fixed.
        stage = _stage(nets, k=2, stacked=True, train_generator=False)
        g0, d0 = _snapshot(stage.generator), _snapshot(stage.discriminator)
        stage.fit(_pairs(), epochs=1, verbose=0)
        self.assertFalse(_changed(g0, stage.generator))
        self.assertTrue(_changed(d0, stage.discriminator))
        # Stacked fine-tune of depth 2 touches only layers 1-2 (3 and 4 are not stacked yet).
        self.assertEqual({v.path.split("/")[0] for v in stage.generator.trainable_variables} & {"encoder_3", "decoder_3"}, set())

    def test_minimax_gradient_reaches_g_through_d(self):
        nets = GASCANetworks(**TINY)
        stage = _stage(nets, adversarial_weight=1.0)
        x = np.random.uniform(-1, 1, (4, 16, 16, 1)).astype("float32")
        with tf.GradientTape() as tape:
            _, _, minimax, _ = stage._reconstruction_losses(x, x, True)
        grads = tape.gradient(minimax, stage.generator.trainable_variables + stage.discriminator.trainable_variables)
        n_g = len(stage.generator.trainable_variables)
        self.assertTrue(all(g is not None for g in grads[:n_g]))

    def test_reconstruction_loss_decreases_on_tiny_overfit(self):
        nets = GASCANetworks(**TINY)
        stage = _stage(nets, g_lr=3e-3, d_lr=1e-3, adversarial_weight=0.01)
        data = _pairs()
        first = stage.evaluate(data, verbose=0, return_dict=True)["reconstruction_loss"]
        stage.fit(data.repeat(40), epochs=1, verbose=0)
        last = stage.evaluate(data, verbose=0, return_dict=True)["reconstruction_loss"]
        self.assertLess(last, 0.8 * first)

    def test_mixed_bfloat16_step(self):
        keras.config.set_dtype_policy("mixed_bfloat16")
        nets = GASCANetworks(**TINY)
        stage = _stage(nets, k=2, stacked=True)
        self.assertEqual(stage.generator.get_layer("encoder_1").compute_dtype, "bfloat16")
        logs = stage.fit(_pairs(), epochs=1, verbose=0).history
        self.assertTrue(all(np.isfinite(v[-1]) for v in logs.values()))
        self.assertEqual(stage.generator.outputs[0].dtype, "float32")

    def test_bad_arguments(self):
        nets = GASCANetworks(**TINY)
        with pytest.raises(ValueError, match="adversarial_loss"):
            AdversarialAutoencoder(nets.shallow_autoencoder(1), nets.shallow_discriminator(1), adversarial_loss="hinge")
        with pytest.raises(ValueError, match="nothing to train"):
            AdversarialAutoencoder(nets.shallow_autoencoder(1), nets.shallow_discriminator(1),
                                   train_generator=False, train_discriminator=False)


class ClassifierFineTuneTest(TestCase):
    def test_loss_decreases_and_accuracy_tracked(self):
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (14, 16, 16, 1)).astype("float32")
        y = np.arange(14) % 7
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(14)
        stage = ClassifierFineTune(GASCANetworks(**TINY).classifier("cnn1"))
        stage.compile(c_optimizer=keras.optimizers.Adam(1e-2))
        first = stage.evaluate(data, verbose=0, return_dict=True)
        stage.fit(data.repeat(30), epochs=1, verbose=0)
        last = stage.evaluate(data, verbose=0, return_dict=True)
        self.assertLess(last["loss"], first["loss"])
        self.assertGreater(last["accuracy"], first["accuracy"])
