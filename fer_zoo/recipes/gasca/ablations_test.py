import os
from unittest import mock

import keras
import numpy as np
import pytest

from fer_zoo.layers import ConvMLP, HalfConv
from fer_zoo.recipes.gasca import ablations
from fer_zoo.recipes.gasca import train as train_module
from fer_zoo.recipes.gasca.models import (
    DEFAULT_MODEL_CONFIG,
    GASCANetworks,
    build_classifier,
    model_config,
)
from fer_zoo.recipes.gasca.train import CONFIGS, joint_epochs, resolve_config, train
from fer_zoo.recipes.gasca.train_test import _tiny_faceset
from fer_zoo.testing import TestCase

TINY = {"image_size": 16, "filters": (2, 4, 4, 4), "shifting_units": 16}
TINY_TRAIN = dict(model={"image_size": 16, "filters": (2, 4), "kernel_sizes": (5, 3), "shifting_units": 16},
                  gan_epochs=1, finetune_epochs=1, classifier_epochs=1, batch_size=16, verbose=0,
                  light_copies=1, val_fraction=0.25)


def _weights(models):
    return [w.copy() for m in models for w in m.get_weights()]


class AblationOptionsTest(TestCase):
    def test_default_config_is_unchanged(self):
        # The shipped presets build with the defaults: ConvMLP x (K-1) + HalfConv, GANGGLW.
        self.assertEqual(DEFAULT_MODEL_CONFIG["encoder_layer"], "convmlp")
        self.assertEqual(DEFAULT_MODEL_CONFIG["frontal_layer"], "halfconv")
        for name in CONFIGS:
            self.assertEqual(resolve_config(name)["schedule"], "ganglw")
            self.assertIsNone(resolve_config(name)["split_seed"])
        nets = GASCANetworks(**TINY)
        self.assertTrue(all(isinstance(nets.encoders[k].layers[1], ConvMLP) for k in range(3)))
        self.assertIsInstance(nets.encoders[3].layers[1], HalfConv)
        with pytest.raises(ValueError, match="encoder_layer"):
            model_config(encoder_layer="mlp")
        with pytest.raises(ValueError, match="frontal_layer"):
            model_config(frontal_layer="full")
        with pytest.raises(ValueError, match="schedule"):
            train(_tiny_faceset(), out_dir=self.get_temp_dir(), schedule="greedy", **TINY_TRAIN)

    def test_conv_encoder_keeps_code_shapes_with_fewer_parameters(self):
        base, conv = GASCANetworks(**TINY), GASCANetworks(**TINY, encoder_layer="conv")
        self.assertEqual(base.shapes, conv.shapes)
        x = np.random.rand(2, 16, 16, 1).astype("float32")
        self.assertEqual(tuple(conv.stacked_encoder()(x).shape), (2, 4, 4, 4))
        self.assertEqual(tuple(conv.stacked_generator()(x).shape), (2, 16, 16, 1))
        for k in range(3):
            layer_types = [type(layer) for layer in conv.encoders[k].layers[1:]]
            self.assertNotIn(ConvMLP, layer_types)
            self.assertIn(keras.layers.Conv2D, layer_types)
            # Exactly the shifting matrix + its bias are gone: H'W' x units + units per layer.
            convmlp = base.encoders[k].layers[1]
            h, w = convmlp.conv_output_shape((None, *base.shapes[k]))
            removed = h * w * convmlp.shifting_units + convmlp.shifting_units
            self.assertEqual(base.encoders[k].count_params() - conv.encoders[k].count_params(), removed)
        self.assertEqual(build_classifier(**TINY).count_params() - build_classifier(**TINY, encoder_layer="conv").count_params(),
                         sum(b.count_params() - c.count_params() for b, c in zip(base.encoders, conv.encoders)))
        with pytest.raises(ValueError, match="integer multiple"):
            GASCANetworks(image_size=16, filters=(2, 4), kernel_sizes=(5, 3), shifting_units=9, encoder_layer="conv")

    def test_conv_frontal_same_parameters_twice_the_macs_not_symmetric(self):
        base, conv = GASCANetworks(**TINY), GASCANetworks(**TINY, frontal_layer="conv")
        self.assertIsInstance(conv.encoders[3].layers[1], keras.layers.Conv2D)
        self.assertEqual(base.encoders[3].count_params(), conv.encoders[3].count_params())
        stats = {name: ablations.encoder_stats(model_config(**TINY, frontal_layer=name)) for name in ("halfconv", "conv")}
        self.assertEqual(stats["halfconv"]["encoder_params"], stats["conv"]["encoder_params"])
        self.assertEqual(stats["conv"]["layers"][3]["macs"], 2 * stats["halfconv"]["layers"][3]["macs"])
        x = np.random.rand(2, 16, 16, 1).astype("float32")
        code = np.asarray(conv.stacked_encoder()(x))
        self.assertEqual(code.shape, (2, 4, 4, 4))
        self.assertFalse(np.allclose(code, code[:, :, ::-1]))
        half = np.asarray(base.stacked_encoder()(x))
        self.assertAllClose(half, half[:, :, ::-1])

    def test_joint_schedule_updates_every_layer_in_one_stage(self):
        out = os.path.join(self.get_temp_dir(), "joint")
        built = []

        class Recording(GASCANetworks):
            def __init__(self, **config):
                super().__init__(**config)
                self.initial = [_weights([m]) for m in self.encoders + self.decoders + self.disc_features]
                self.initial_heads = _weights(self.disc_heads)
                built.append(self)

        with mock.patch.object(train_module, "GASCANetworks", Recording):
            summary = train(_tiny_faceset(), out_dir=out, variant="gasca1", schedule="joint", **TINY_TRAIN)
        self.assertEqual(list(summary["stages"]), ["joint_gan", "classifier"])
        self.assertEqual(joint_epochs(resolve_config("small", **TINY_TRAIN), 2), 2 * 1 + 1 * 1)
        nets = built[0]
        # One stage moved every encoder, decoder and discriminator layer of the stack; only
        # the head of the deepest D is used (D = features_1..K + head_K).
        models = nets.encoders + nets.decoders + nets.disc_features
        for model, initial in zip(models, nets.initial):
            kernels = [(a, b) for a, b in zip(initial, model.get_weights()) if a.ndim > 1]
            self.assertTrue(kernels)
            for before, after in kernels:
                self.assertFalse(np.allclose(before, after), f"{model.name} was not updated")
        self.assertFalse(np.allclose(nets.initial_heads[-2], nets.disc_heads[-1].get_weights()[0]))
        self.assertIn("reconstruction", summary)

    def test_ablation_runner_writes_json_and_table(self):
        out = self.get_temp_dir()
        faces = _tiny_faceset()
        path = os.path.join(out, "tiny.npz")
        faces.save(path)
        results = ablations.run_ablations(path, out, arms=("gasca2", "conv_encoder"), seeds=(0,), budget="full",
                                          variant="gasca1", poses=None, **TINY_TRAIN)
        self.assertEqual(set(results["arms"]), {"gasca2", "conv_encoder"})
        self.assertLess(results["arms"]["conv_encoder"]["encoder_params"], results["arms"]["gasca2"]["encoder_params"])
        self.assertTrue(os.path.exists(os.path.join(out, "ablations.json")))
        table = open(os.path.join(out, "ablations.md")).read()
        self.assertIn("(a) plain conv", table)
        self.assertEqual(results["missing"], [])
