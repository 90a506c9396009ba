import json
import os

import numpy as np

from fer_zoo.data.faceset import FaceSet
from fer_zoo.recipes.gasca.fer2013 import train_fer2013
from fer_zoo.recipes.gasca.presets import ARCHITECTURES, PRESETS
from fer_zoo.recipes.gasca.train import _predict
from fer_zoo.testing import TestCase


def _write_faceset(path, n, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 7
    # Class-dependent brightness so there is something to learn.
    images = np.clip(rng.normal(0, 0.3, (n, 48, 48, 1)) + (labels[:, None, None, None] - 3) / 4, -1, 1)
    FaceSet(images, {"expression": labels}).save(path)
    return path


class TrainFER2013Test(TestCase):
    def test_keeps_the_best_epoch_and_reports_its_accuracy(self):
        tmp_path = self.get_temp_dir()
        train = _write_faceset(os.path.join(tmp_path, "train.npz"), 16, 0)
        val = _write_faceset(os.path.join(tmp_path, "val.npz"), 14, 1)
        out = os.path.join(tmp_path, "run")
        summary = train_fer2013(train, val, out, epochs=2, init=None, batch_size=8, verbose=0)
        history = [epoch["val_accuracy"] for epoch in summary["history"]]
        assert len(history) == 2
        assert summary["best_epoch"] == int(np.argmax(history)) + 1
        # The saved weights reproduce the reported accuracy after a fresh build + load.
        preset = PRESETS["gasca2-kdef"]  # the network train_fer2013 fine-tunes (no mirror average)
        model = ARCHITECTURES[preset["architecture"]](**preset["config"])
        model.load_weights(os.path.join(out, "best.weights.h5"))
        accuracy = float(np.mean(_predict(model, FaceSet.load(val).images).argmax(-1) == np.arange(14) % 7))
        assert abs(accuracy - summary["publictest_accuracy"]) < 1e-6
        assert json.loads(open(os.path.join(out, "summary.json")).read())["best_epoch"] == summary["best_epoch"]

    def test_rejects_unknown_init(self):
        tmp_path = self.get_temp_dir()
        train = _write_faceset(os.path.join(tmp_path, "train.npz"), 8, 0)
        try:
            train_fer2013(train, train, os.path.join(tmp_path, "run"), epochs=1, init="imagenet")
        except ValueError as error:
            assert "init" in str(error)
        else:
            raise AssertionError("init='imagenet' was accepted")
