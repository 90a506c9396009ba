"""Tests of the REL-GAN figures (Pillow only, no training)."""

import os

import numpy as np
import pytest
from PIL import Image

from fer_zoo.recipes.relgan import figures
from fer_zoo.testing import TestCase


class RelganFiguresTest(TestCase):
    def test_grid_places_generated_and_exact_images(self):
        rng = np.random.default_rng(0)
        sources = rng.uniform(-1, 1, (2, 8, 8, 1)).astype("float32")
        targets = rng.uniform(-1, 1, (3, 8, 8, 1)).astype("float32")
        generated = np.full((2, 3, 8, 8, 1), -1.0, "float32")  # black
        truths = np.full((2, 3, 8, 8, 1), 1.0, "float32")  # white
        path = figures.reenactment_grid(
            sources, targets, generated, truths, os.path.join(self.get_temp_dir(), "g.png"), scale=2,
            row_labels=["angry", "happy"],
        )
        image = np.asarray(Image.open(path).convert("L"))
        self.assertGreater(image.shape[1], 3 * 2 * 16)
        self.assertGreaterEqual(int((image == 0).sum()), 6 * 16 * 16)  # six black x̄ tiles
        with pytest.raises(ValueError, match="sources, targets"):
            figures.reenactment_grid(sources, targets, generated[:, :2], truths, path)

    def test_probe_chart_and_uint8_conversion(self):
        path = figures.probe_chart(
            {"identity from f(e)": {"accuracy": 0.2, "chance": 0.1}},
            os.path.join(self.get_temp_dir(), "p.png"),
        )
        self.assertTrue(os.path.exists(path))
        self.assertEqual(figures.to_uint8(np.array([[[-1.0], [1.0]]])).tolist(), [[0, 255]])
