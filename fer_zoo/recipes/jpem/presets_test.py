import hashlib
import pathlib

import numpy as np

from fer_zoo.recipes.jpem.presets import ARCHITECTURES, PRESETS
from fer_zoo.testing.test_case import TestCase

ZOO = pathlib.Path(__file__).resolve().parents[2] / "zoo"


class JPEMPresetsTest(TestCase):
    def test_presets_are_complete_and_weights_verified(self):
        self.assertIn("jpem", PRESETS)
        for name, preset in PRESETS.items():
            self.assertIn(preset["architecture"], ARCHITECTURES)
            meta = preset["metadata"]
            for key in ("task", "input_size", "channels", "input_range", "licence", "card", "class_names"):
                self.assertIn(key, meta, f"{name} metadata misses {key}")
            # KDEF-derived weights carry KDEF's terms; SynthFER-trained ones say no licence applies.
            self.assertTrue("non-commercial" in meta["licence"] or "no data licence" in meta["licence"], name)
            self.assertTrue((ZOO / "cards" / meta["card"]).exists(), f"{name}: card missing")
            path = ZOO / "weights" / preset["weights"]
            # Weights ship inside the wheel: the 64 px generator (3.2 M float32 weights) is the
            # largest at 12.3 MiB; keep every file under 16 MiB.
            self.assertLess(path.stat().st_size, 16 * 2**20)
            self.assertEqual(hashlib.sha256(path.read_bytes()).hexdigest(), preset["sha256"], name)

    def test_classifier_loads_trained_weights(self):
        preset = PRESETS["jpem"]
        build = ARCHITECTURES[preset["architecture"]]
        size = preset["config"]["image_size"]
        self.assertEqual(preset["metadata"]["input_size"], [size, size])  # the Recognizer crops at this size
        self.assertGreaterEqual(size, 64)  # issue 15: the recipes' classifiers at >= 64 px
        x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 1)).astype("float32")
        model = build(**preset["config"])
        fresh = np.asarray(model(x))
        model.load_weights(str(ZOO / "weights" / preset["weights"]))
        probs = np.asarray(model(x))
        self.assertEqual(probs.shape, (2, 7))
        self.assertAllClose(probs.sum(-1), np.ones(2), atol=1e-5)
        self.assertGreater(np.abs(probs - fresh).max(), 1e-3)  # the file really changed the weights

    def test_generator_loads_trained_weights(self):
        if "jpem-generator" not in PRESETS:
            self.fail("jpem-generator preset missing")
        preset = PRESETS["jpem-generator"]
        model = ARCHITECTURES[preset["architecture"]](**preset["config"])
        model.load_weights(str(ZOO / "weights" / preset["weights"]))
        x = np.zeros((1, 32, 32, 1), "float32")
        out = np.asarray(model([x, np.eye(7, dtype="float32")[[3]], np.eye(5, dtype="float32")[[2]]]))
        self.assertEqual(out.shape, (1, 32, 32, 1))
        self.assertLessEqual(np.abs(out).max(), 1.0)
