import hashlib
import pathlib

import numpy as np

from fer_zoo.recipes.gasca.presets import ARCHITECTURES, PRESETS
from fer_zoo.testing import TestCase

ZOO = pathlib.Path(__file__).resolve().parents[2] / "zoo"


class GASCAPresetsTest(TestCase):
    def test_presets_are_complete_and_weights_verified(self):
        self.assertIn("gasca2", PRESETS)
        for name, preset in PRESETS.items():
            self.assertIn(preset["architecture"], ARCHITECTURES)
            meta = preset["metadata"]
            for key in ("task", "input_size", "channels", "input_range", "licence", "card"):
                self.assertIn(key, meta, f"{name} metadata misses {key}")
            self.assertTrue((ZOO / "cards" / meta["card"]).exists(), f"{name}: card missing")
            if preset["weights"] is None:
                continue
            path = ZOO / "weights" / preset["weights"]
            # gasca2's 24x24 first code grid makes it the largest GASCA file (6.0 MB).
            self.assertLess(path.stat().st_size, 8 * 2**20)
            self.assertEqual(hashlib.sha256(path.read_bytes()).hexdigest(), preset["sha256"], name)

    def test_gasca2_builds_and_loads_its_weights(self):
        preset = PRESETS["gasca2"]
        model = ARCHITECTURES[preset["architecture"]](**preset["config"])
        model.load_weights(str(ZOO / "weights" / preset["weights"]))
        probs = np.asarray(model(np.zeros((2, 48, 48, 1), "float32")))
        self.assertEqual(probs.shape, (2, 7))
        self.assertAllClose(probs.sum(-1), np.ones(2), atol=1e-5)
        self.assertEqual(len(preset["metadata"]["class_names"]), 7)
