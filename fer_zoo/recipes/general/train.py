"""Train the general-purpose classifier (`fer-general`) on FER2013 + KDEF.

Two steps, both resumable (re-running a killed command continues it):

    # 1. crops: FER2013 as released (48x48), KDEF through the Recognizer's own face
    #    preprocessor (train/serve parity), cached as FaceSet .npz files
    python -m fer_zoo.recipes.general.train prepare --kdef /data/KDEF --fer2013 /data/fer2013 \\
        --out /tmp/general_data
    # 2. training (KDEF identities in --heldout are never trained on: they measure accuracy on
    #    unseen people)
    python -m fer_zoo.recipes.general.train fit --data /tmp/general_data --out runs/general \\
        --epochs 45 --precision mixed

`fit` writes `final.weights.h5` (the last epoch: no epoch is picked on a test set),
`summary.json` (FER2013 PublicTest and KDEF held-out accuracy, per class and per pose, with and
without flip test-time averaging), `history.csv` and a `backup/` folder for resuming.
"""

import argparse
import json
import pathlib
import sys
import time

import keras
import numpy as np

from fer_zoo.data.faceset import EXPRESSIONS, FaceSet
from fer_zoo.recipes.general.models import build_general_classifier

# The 12 KDEF identities (indices into the sorted identity codes) held out of every KDEF-trained
# preset's accuracy runs (see gasca presets' HELDOUT_PROTOCOL): same people, comparable numbers.
HELDOUT_IDENTITIES = (2, 4, 8, 10, 16, 20, 27, 34, 42, 51, 52, 57)

# The face crop the preset is trained on and that its Recognizer makes (train/serve parity).
# Tighter than the KDEF presets' crop: the eyes and box margin put faces at FER2013's framing.
PREPROCESSING = {"align": True, "margin": 0.05, "eye_y": 0.4, "eye_distance": 0.42, "crop": "detect",
                 "grey": True}
INPUT_SIZE = 48
# All five KDEF poses, full profiles (FL/FR, cropped by the profile stage) included.
KDEF_POSES = ("FL", "HL", "S", "HR", "FR")

DEFAULTS = {
    "epochs": 44,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "weight_decay": 5e-4,
    "warmup_epochs": 1,
    "label_smoothing": 0.1,
    # KDEF is ~3.3k training faces (48 identities, five poses) against FER2013's 29k: repeat it
    # so its studio poses count.
    "kdef_repeat": 2,
    # Class weights (n_max / n_c) ** power: 0.5 lifts FER2013's rare disgust without
    # swamping the common classes.
    "class_weight_power": 0.5,
}


def face_preprocessor():
    """The FacePreprocessor the Recognizer builds for this preset (same crop in training)."""
    from fer_zoo.data.preprocessing import FacePreprocessor

    options = {k: v for k, v in PREPROCESSING.items() if k not in ("crop", "grey")}
    return FacePreprocessor(size=INPUT_SIZE, channels=1, **options)


def prepare(kdef_root, fer2013_root, out_dir, progress=print):
    """Writes `fer2013_train.npz`, `fer2013_publictest.npz` and `kdef.npz` (48 px grey FaceSets).

    KDEF is cropped from its photos by `face_preprocessor()` (all five poses, full profiles
    included; faces it cannot find are listed in the report and left out), so that training crops are the
    crops `fer_zoo.Recognizer` makes. Existing files are kept (delete them to rebuild).

    Returns:
        dict file name -> number of faces.
    """
    from fer_zoo.data.adapters.fer2013 import load_fer2013
    from fer_zoo.data.adapters.kdef import load_kdef

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, file_name in (("Training", "fer2013_train.npz"), ("PublicTest", "fer2013_publictest.npz")):
        path = out_dir / file_name
        if not path.exists():
            load_fer2013(fer2013_root, image_size=INPUT_SIZE, channels=1, splits=[split]).save(path)
        counts[file_name] = len(FaceSet.load(path))
        progress(f"{file_name}: {counts[file_name]} faces")
    path = out_dir / "kdef.npz"
    if not path.exists():
        faces = load_kdef(kdef_root, image_size=INPUT_SIZE, channels=1, poses=KDEF_POSES,
                          crop="detect", preprocessor=face_preprocessor(), skip_bad=True)
        faces.save(path)
        progress(f"kdef.npz: crop methods {faces.report.get('methods')}")
    counts["kdef.npz"] = len(FaceSet.load(path))
    progress(f"kdef.npz: {counts['kdef.npz']} faces")
    return counts


def load_splits(data_dir, heldout_identities=HELDOUT_IDENTITIES):
    """FER2013 train / PublicTest and KDEF split by identity: `(train, publictest, kdef_train, kdef_test)`."""
    data_dir = pathlib.Path(data_dir)
    fer_train = FaceSet.load(data_dir / "fer2013_train.npz")
    fer_test = FaceSet.load(data_dir / "fer2013_publictest.npz")
    kdef = FaceSet.load(data_dir / "kdef.npz")
    held = np.isin(kdef.labels["identity"], np.asarray(heldout_identities, dtype=int))
    return fer_train, fer_test, kdef.subset(~held), kdef.subset(held)


def augmenter(seed=0):
    """Geometric + photometric augmentation applied per batch in the input pipeline."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.04, fill_mode="reflect", seed=seed + 1),  # +-14 deg
            keras.layers.RandomZoom((-0.15, 0.15), fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomTranslation(0.08, 0.08, fill_mode="reflect", seed=seed + 3),
            keras.layers.RandomContrast(0.3, value_range=(-1, 1), seed=seed + 4),
            keras.layers.RandomBrightness(0.2, value_range=(-1, 1), seed=seed + 5),
        ],
        name="augment",
    )


def class_weights(labels, power, num_classes=7):
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = (counts.max() / np.maximum(counts, 1.0)) ** float(power)
    # Normalised so the average sample weight is 1 (the learning rate keeps its meaning).
    return (weights / (weights[labels].mean())).astype(np.float32)


def _dataset(images, labels, weights, batch_size, seed, augment):
    import tensorflow as tf

    one_hot = np.eye(len(EXPRESSIONS), dtype=np.float32)[labels]
    data = tf.data.Dataset.from_tensor_slices((images, one_hot, weights))
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment:
        pipeline = augmenter(seed)
        data = data.map(lambda x, y, w: (tf.clip_by_value(pipeline(x, training=True), -1.0, 1.0), y, w),
                        num_parallel_calls=1)
    return data.prefetch(2)


def predict(model, images, flip=True, batch_size=512):
    """Class probabilities; with `flip`, averaged with the mirrored faces (test-time flip)."""
    probabilities = model.predict(images, batch_size=batch_size, verbose=0)
    if flip:
        probabilities = 0.5 * (probabilities + model.predict(images[:, :, ::-1], batch_size=batch_size, verbose=0))
    return probabilities


def accuracy_report(probabilities, labels, groups=None):
    """Overall and per-class accuracy (and per group, e.g. pose) as a JSON-ready dict."""
    predicted = probabilities.argmax(-1)
    report = {"accuracy": round(float((predicted == labels).mean()), 4), "n": int(len(labels))}
    report["per_class"] = {
        name: round(float((predicted[labels == i] == i).mean()), 4)
        for i, name in enumerate(EXPRESSIONS) if (labels == i).any()
    }
    if groups is not None:
        report["per_group"] = {
            str(int(g)): round(float((predicted[groups == g] == labels[groups == g]).mean()), 4)
            for g in np.unique(groups)
        }
    confusion = np.zeros((len(EXPRESSIONS), len(EXPRESSIONS)), int)
    np.add.at(confusion, (labels, predicted), 1)
    report["confusion"] = confusion.tolist()
    return report


class _Log(keras.callbacks.Callback):
    def __init__(self, stream):
        super().__init__()
        self.stream, self.started = stream, time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: round(float(v), 4) for k, v in (logs or {}).items()}
        print(f"epoch {epoch + 1} {time.time() - self.started:.0f}s {logs}", file=self.stream, flush=True)


def fit(data_dir, out_dir, epochs=None, precision="mixed", seed=0, heldout_identities=HELDOUT_IDENTITIES,
        verbose=0, **overrides):
    """Trains `fer-general` and measures it; see the module docstring.

    Args:
        data_dir: folder written by `prepare`.
        out_dir: run folder (weights, summary, history, resumable backup).
        epochs: int (default `DEFAULTS["epochs"]`); the cosine schedule spans them.
        precision: `"mixed"` (bfloat16 on CPU / float16 on GPU) or `"float32"`.
        seed: shuffling / augmentation / initialisation seed.
        heldout_identities: KDEF identity indices never trained on (accuracy on unseen people).
        verbose: Keras `fit` verbosity.
        **overrides: any key of `DEFAULTS`.

    Returns:
        The summary dict (also written to `out_dir/summary.json`).
    """
    from fer_zoo.training import set_precision

    config = {**DEFAULTS, **overrides}
    if epochs is not None:
        config["epochs"] = int(epochs)
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown}; choose from {sorted(DEFAULTS)}.")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    policy = set_precision(precision)
    fer_train, fer_test, kdef_train, kdef_test = load_splits(data_dir, heldout_identities)
    images = np.concatenate([fer_train.images] + [kdef_train.images] * int(config["kdef_repeat"]))
    labels = np.concatenate([fer_train.labels["expression"]]
                            + [kdef_train.labels["expression"]] * int(config["kdef_repeat"])).astype(int)
    weights = class_weights(labels, config["class_weight_power"])[labels]
    steps = -(-len(images) // int(config["batch_size"]))
    model = build_general_classifier(input_size=INPUT_SIZE, channels=1)
    warmup = int(config["warmup_epochs"]) * steps
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, config["epochs"] * steps - warmup), warmup_target=config["learning_rate"],
        warmup_steps=warmup, alpha=0.01)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=config["weight_decay"]),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config["label_smoothing"]),
        metrics=["accuracy"],
    )
    val_one_hot = np.eye(len(EXPRESSIONS), dtype=np.float32)[fer_test.labels["expression"]]
    with open(out_dir / "train.log", "a") as log:
        print(f"start {time.ctime()} train faces {len(images)} (FER2013 {len(fer_train)}, KDEF "
              f"{len(kdef_train)} x{config['kdef_repeat']}), config {config}, policy {policy}",
              file=log, flush=True)
        started = time.time()
        model.fit(
            _dataset(images, labels, weights, int(config["batch_size"]), seed, augment=True),
            epochs=int(config["epochs"]),
            validation_data=(fer_test.images, val_one_hot),
            callbacks=[
                keras.callbacks.BackupAndRestore(str(out_dir / "backup")),
                keras.callbacks.CSVLogger(str(out_dir / "history.csv"), append=True),
                _Log(log),
            ],
            verbose=verbose,
        )
        seconds = time.time() - started
    model.save_weights(str(out_dir / "final.weights.h5"))
    summary = {
        "config": config, "seed": seed, "precision": str(policy), "train_seconds": round(seconds, 1),
        "train_faces": int(len(images)), "heldout_identities": list(heldout_identities),
    }
    for flip in (False, True):
        tag = "flip" if flip else "plain"
        summary[f"fer2013_publictest_{tag}"] = accuracy_report(
            predict(model, fer_test.images, flip), fer_test.labels["expression"])
        summary[f"kdef_heldout_{tag}"] = accuracy_report(
            predict(model, kdef_test.images, flip), kdef_test.labels["expression"], kdef_test.labels["yaw"])
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="crop and cache FER2013 + KDEF")
    p.add_argument("--kdef", required=True, help="the KDEF folder (photos + labels)")
    p.add_argument("--fer2013", required=True, help="FER2013 csv or class-folder root")
    p.add_argument("--out", required=True)
    f = sub.add_parser("fit", help="train and measure")
    f.add_argument("--data", required=True, help="folder written by `prepare`")
    f.add_argument("--out", required=True)
    f.add_argument("--epochs", type=int, default=None)
    f.add_argument("--precision", default="mixed", choices=["mixed", "float32"])
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override DEFAULTS")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.kdef, args.fer2013, args.out)
        return 0
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = type(DEFAULTS[key])(value) if key in DEFAULTS else value
    summary = fit(args.data, args.out, epochs=args.epochs, precision=args.precision, seed=args.seed,
                  **overrides)
    for key in ("fer2013_publictest_plain", "fer2013_publictest_flip", "kdef_heldout_plain", "kdef_heldout_flip"):
        print(f"{key}: {summary[key]['accuracy']:.4f} ({summary[key]['n']} faces)")
    print(f"all numbers: {pathlib.Path(args.out) / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
