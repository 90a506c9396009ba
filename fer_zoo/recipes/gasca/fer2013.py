"""In-the-wild GASCA classifier (`gasca2-fer2013`, the paper's CNN2b setting): the shipped
`gasca2-kdef` CNN2a (GASCA2-pretrained on KDEF, then fine-tuned on KDEF) fine-tuned on FER2013 train,
validated on FER2013 PublicTest every epoch; the best epoch is kept.

    .venv/bin/python -m fer_zoo.recipes.gasca.fer2013 \
        /tmp/fer_data/fer2013_train_48.npz /tmp/fer_data/fer2013_publictest_48.npz \
        /tmp/fer_runs/gasca/fer2013 --epochs 6
"""

import argparse
import json
import pathlib
import time

import keras
import numpy as np

import fer_zoo
from fer_zoo.data.faceset import FaceSet
from fer_zoo.recipes.gasca.presets import ARCHITECTURES, PRESETS
from fer_zoo.recipes.gasca.recipe import ClassifierFineTune
from fer_zoo.recipes.gasca.train import CONFIGS, _dataset, _predict, classifier_learning_rate


class _KeepBest(keras.callbacks.Callback):
    def __init__(self, classifier, path):
        super().__init__()
        self.classifier, self.path, self.best, self.best_epoch, self.history = classifier, path, -1.0, -1, []

    def on_epoch_end(self, epoch, logs=None):
        # Keras' val_accuracy averages per-batch accuracies (the last PublicTest batch holds 5
        # images), so it reads a little high; the returned accuracy is recomputed exactly.
        accuracy = float(logs["val_accuracy"])
        self.history.append({k: float(v) for k, v in logs.items()})
        if accuracy > self.best:
            self.best, self.best_epoch = accuracy, epoch + 1
            self.classifier.save_weights(str(self.path))


def train_fer2013(train_npz, val_npz, out_dir, epochs, init="gasca2-kdef", batch_size=128, seed=0, verbose=2):
    """Fine-tune the `gasca2-kdef` classifier (or, `init=None`, the same network from random
    initialisation) on FER2013 with the KDEF recipe's classifier settings: Adam 1e-3 with cosine
    decay over `epochs`, label smoothing 0.1, `train.face_augment`.

    Args:
        train_npz: FaceSet `.npz` of FER2013 train (48x48 grey in [-1, 1]).
        val_npz: FaceSet `.npz` of FER2013 PublicTest, evaluated every epoch.
        out_dir: folder for `best.weights.h5` (best PublicTest epoch) and `summary.json`.
        epochs: int, number of epochs (the cosine decay spans them).
        init: `"gasca2-kdef"` (the KDEF-only CNN2a preset's weights) or `None` (random initialisation).
        batch_size: int.
        seed: int, shuffling / augmentation / initialisation seed.
        verbose: Keras `fit` verbosity.

    Returns:
        dict with the best PublicTest accuracy, its epoch, per-epoch history and seconds.
    """
    keras.utils.set_random_seed(seed)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_set, val_set = FaceSet.load(train_npz), FaceSet.load(val_npz)
    preset = PRESETS["gasca2-kdef"]
    classifier = ARCHITECTURES[preset["architecture"]](**preset["config"])
    if init == "gasca2-kdef":
        classifier.set_weights(fer_zoo.load("gasca2-kdef").get_weights())
    elif init is not None:
        raise ValueError(f"init={init!r}: expected 'gasca2-kdef' or None.")
    cfg = {**CONFIGS["kdef"], "classifier_epochs": int(epochs)}
    steps = -(-len(train_set.images) // batch_size)
    stage = ClassifierFineTune(classifier, label_smoothing=cfg["label_smoothing"], seed=seed, name="gasca_classifier")
    stage.compile(c_optimizer=keras.optimizers.Adam(classifier_learning_rate(cfg, steps)))
    y_train, y_val = train_set.labels["expression"], val_set.labels["expression"]
    keep = _KeepBest(classifier, out_dir / "best.weights.h5")
    started = time.time()
    stage.fit(_dataset(train_set.images, y_train, batch_size, seed, augment=cfg["classifier_augment"]),
              epochs=int(epochs), verbose=verbose, callbacks=[keep],
              validation_data=_dataset(val_set.images, y_val, 256, seed, shuffle=False))
    classifier.load_weights(str(keep.path))
    predictions = _predict(classifier, val_set.images).argmax(-1)
    summary = {
        "init": init, "epochs": int(epochs), "batch_size": batch_size, "seed": seed,
        "best_epoch": keep.best_epoch, "publictest_accuracy": float(np.mean(predictions == y_val)),
        "history": keep.history, "seconds": round(time.time() - started, 1),
        "weights": str(keep.path),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_npz")
    parser.add_argument("val_npz")
    parser.add_argument("out_dir")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--scratch", action="store_true", help="random initialisation (control)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = train_fer2013(args.train_npz, args.val_npz, args.out_dir, args.epochs,
                           init=None if args.scratch else "gasca2-kdef", batch_size=args.batch_size, seed=args.seed)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}))
