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
from fer_zoo.data.profile_verifier import VALIDATION_IDENTITIES as VERIFIER_VALIDATION_IDENTITIES
from fer_zoo.evaluation.aggregate import confusion_matrix
from fer_zoo.recipes.general.models import build_general_classifier

# The 12 KDEF identities (indices into the sorted identity codes) held out of every KDEF-trained
# preset's accuracy runs (see gasca presets' HELDOUT_PROTOCOL): same people, comparable numbers.
HELDOUT_IDENTITIES = (2, 4, 8, 10, 16, 20, 27, 34, 42, 51, 52, 57)
# KDEF HL/S/HR crops of the 48 training identities, written by `prepare` (GASCA2 pre-training).
PRETRAINING_FILE = "kdef_train48_hl_s_hr.npz"

# The face crop the preset is trained on and that its Recognizer makes (train/serve parity).
# Tighter than the KDEF presets' crop: the eyes and box margin put faces at FER2013's framing.
PREPROCESSING = {"align": True, "margin": 0.05, "eye_y": 0.4, "eye_distance": 0.42, "crop": "detect",
                 "grey": True}
INPUT_SIZE = 48
# All five KDEF poses, full profiles (FL/FR, cropped by the profile stage) included.
KDEF_POSES = ("FL", "HL", "S", "HR", "FR")
# KDEF training identities pasted on clutter and cropped by the Recognizer's detector, written by
# `prepare --clutter-copies N` (KDEF's own crops all show its plain studio wall).
CLUTTER_FILE = "kdef_clutter.npz"

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
    # Knowledge distillation (with `fit(teacher=...)`): each training target is
    # (1 - distill_weight) x the one-hot label + distill_weight x the teacher's flip-averaged
    # probabilities on the un-augmented face, sharpened or softened as p ** (1 / T), renormalised.
    "distill_weight": 0.0,
    "distill_temperature": 2.0,
    # "fixed": the teacher reads each training face once, un-augmented (targets computed before
    # training); "online": it reads every augmented (and mixed) batch the student sees, so the
    # student matches the teacher's function around each face ("consistent teaching", Beyer et al.,
    # CVPR 2022), at the cost of one teacher forward pass per batch.
    "distill_mode": "fixed",
    # Mixup (Zhang et al., ICLR 2018): each augmented face is blended with another face of its
    # batch, lambda ~ Beta(alpha, alpha), targets and sample weights blended alike; 0 turns it off.
    "mixup_alpha": 0.0,
    # Times the clutter crops (`CLUTTER_FILE`, when `prepare` wrote it) enter each epoch.
    "clutter_repeat": 1,
}

# Networks `fit` can train on this data: the zoo's own VGG-style net, or the GASCA paper's CNN2a
# (the `gasca2` preset's network) on the same crops, so the two read the same faces.
ARCHITECTURES = ("general", "cnn2a", "cnn2a_wide")
# CNN2a at the paper's filter counts (32, 64, 64, 64; section VIII) instead of the KDEF presets'
# CPU-sized (16, 32, 32, 32): on FER2013 + KDEF the narrow one under-fits (44 % training accuracy
# after 44 epochs, docs/gasca.md "CNN2a on FER2013 + KDEF"); all but the first layer work on the
# 12x12 code grid; measured, the wide one trains at about half the narrow one's rate (2,924 vs
# 1,511 s for 44 epochs) and reads the held-out KDEF crops 0.8 points better (one seed).
CNN2A_WIDE_FILTERS = [32, 64, 64, 64]


def cnn2a_config(architecture, **model_overrides):
    """GASCA model arguments (`gasca.models.model_config`) of `"cnn2a"` / `"cnn2a_wide"` at 48 px,
    updated with `model_overrides` (e.g. `shifting_units=[576, 144, 144]`)."""
    from fer_zoo.recipes.gasca.models import model_config
    from fer_zoo.recipes.gasca.presets import KDEF_CONFIG

    config = {**KDEF_CONFIG, "image_size": [INPUT_SIZE, INPUT_SIZE]}
    if architecture == "cnn2a_wide":
        config["filters"] = list(CNN2A_WIDE_FILTERS)
    config.update(model_overrides)
    model_config(**config)  # unknown keys and inconsistent sizes fail here, before any data loads
    return config


def build_network(architecture="general", model_overrides=None):
    """The classifier `fit` trains: `"general"` (fer-general), `"cnn2a"` (GASCA's CNN2a at the
    KDEF presets' widths) or `"cnn2a_wide"` (CNN2a at the paper's filter counts); CNN2a's GASCA
    model arguments can be changed with `model_overrides`."""
    if architecture == "general":
        if model_overrides:
            raise ValueError(f"model_overrides {sorted(model_overrides)} apply to the CNN2a networks only.")
        return build_general_classifier(input_size=INPUT_SIZE, channels=1)
    if architecture in ("cnn2a", "cnn2a_wide"):
        from fer_zoo.recipes.gasca.models import build_classifier

        return build_classifier(name="cnn2a", **cnn2a_config(architecture, **(model_overrides or {})))
    raise ValueError(f"architecture={architecture!r}; choose from {ARCHITECTURES}.")


def initialise_from(model, weights_path, builder_json=None):
    """Copies the layers of a pre-trained model whose names and weight shapes match `model`'s
    (e.g. GASCA2's stacked normaliser -> CNN2a's `encoder_1..K`, Algorithm 1's pre-training).

    Args:
        model: the network to initialise.
        weights_path: a `.keras` model, or a `.weights.h5` file with a `normalizer.json` (the GASCA
            run's builder arguments) beside it.

    Returns:
        The names of the layers copied (raises `ValueError` when none matches).
    """
    weights_path = pathlib.Path(weights_path)
    if not weights_path.exists():
        raise FileNotFoundError(f"init weights {weights_path} do not exist")
    if weights_path.suffix == ".keras":
        source = keras.saving.load_model(weights_path, compile=False)
    else:
        builder = pathlib.Path(builder_json or weights_path.with_name("normalizer.json"))
        if not builder.exists():
            raise FileNotFoundError(f"{weights_path} needs its builder arguments in {builder}")
        from fer_zoo.recipes.gasca.models import build_normalizer

        spec = json.loads(builder.read_text())
        source = build_normalizer(**spec["config"])
        source.load_weights(str(weights_path))
    copied = []
    for layer in model.layers:
        try:
            other = source.get_layer(layer.name)
        except ValueError:
            continue
        if layer.weights and [w.shape for w in layer.weights] == [w.shape for w in other.weights]:
            layer.set_weights(other.get_weights())
            copied.append(layer.name)
    if not copied:
        raise ValueError(f"no layer of {weights_path} matches a layer of {model.name} by name and shape")
    return copied


def face_preprocessor():
    """The FacePreprocessor the Recognizer builds for this preset (same crop in training)."""
    from fer_zoo.data.preprocessing import FacePreprocessor

    options = {k: v for k, v in PREPROCESSING.items() if k not in ("crop", "grey")}
    return FacePreprocessor(size=INPUT_SIZE, channels=1, **options)


# Training identities whose clutter crops `prepare_clutter` leaves out: the profile verifier's
# validation identities, on which the effect of the clutter crops is measured (people seen only in
# the studio, like a user's; fer_zoo.data.profile_verifier.VALIDATION_IDENTITIES).
CLUTTER_VALIDATION_IDENTITIES = VERIFIER_VALIDATION_IDENTITIES


def prepare_clutter(kdef_root, out_dir, copies, seed=0,
                    heldout_identities=HELDOUT_IDENTITIES + CLUTTER_VALIDATION_IDENTITIES, progress=print):
    """Writes `CLUTTER_FILE`: every KDEF photo of the training identities (all five poses; not
    `CLUTTER_VALIDATION_IDENTITIES`) cut out
    of the studio background (`fer_zoo.data.composite.segment_person`, masks cached in
    `out_dir/masks`) and pasted `copies` times at random sizes on `training_clutter`, then
    detected and cropped by `face_preprocessor()` like a user's photo; the face on the person's
    head is kept with the photo's labels (a photo whose face is not found there is left out).

    Returns:
        The FaceSet written.
    """
    from fer_zoo.data.adapters.kdef import kdef_labels, scan_kdef
    from fer_zoo.data.composite import (
        compose_people,
        head_face_box,
        person_mask,
        person_masks,
        training_clutter,
    )
    from fer_zoo.data.preprocessing import read_image

    out_dir = pathlib.Path(out_dir)
    paths, records, codes = scan_kdef(kdef_root, KDEF_POSES)
    labels = kdef_labels(records, codes)
    keep = np.flatnonzero(~np.isin(labels["identity"], np.asarray(heldout_identities, dtype=int)))
    person_masks([paths[i] for i in keep], out_dir / "masks", progress)
    detector = face_preprocessor()
    rng = np.random.default_rng(seed)
    faces, rows, missed = [], [], 0
    for done, index in enumerate(keep, start=1):
        rgb = read_image(paths[index])
        mask = person_mask(paths[index], out_dir / "masks", rgb)
        for _ in range(int(copies)):
            photo, (person,) = compose_people([(rgb, mask)], rng, scale=(0.3, 0.7), background=training_clutter)
            results = detector.process(photo)
            head = head_face_box([r.box for r in results], person)
            if head is None:
                missed += 1
                continue
            faces.append(next(r.face for r in results if r.box == head))
            rows.append(index)
        if done % 500 == 0:
            progress(f"{CLUTTER_FILE}: {done}/{len(keep)} photos, {len(faces)} faces, {missed} not found")
    faceset = FaceSet(np.stack(faces), {k: np.asarray(v)[rows] for k, v in labels.items()}, name="kdef_clutter")
    faceset.report = {"photos": int(len(keep)), "copies": int(copies), "not_found": int(missed)}
    faceset.save(out_dir / CLUTTER_FILE)
    progress(f"{CLUTTER_FILE}: {len(faceset)} faces, {missed} of {len(keep) * int(copies)} not found on the head")
    return faceset


def prepare(kdef_root, fer2013_root, out_dir, progress=print):
    """Writes `fer2013_train.npz`, `fer2013_publictest.npz`, `kdef.npz` and `PRETRAINING_FILE`
    (the training identities' KDEF HL/S/HR faces), 48 px grey FaceSets.

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
    kdef = FaceSet.load(path)
    counts["kdef.npz"] = len(kdef)
    progress(f"kdef.npz: {counts['kdef.npz']} faces")
    # GASCA2 pre-training set of the `cnn2a` (gasca2) recipe: the training identities' HL/S/HR
    # crops (the held-out identities stay out of the pre-training too).
    path = out_dir / PRETRAINING_FILE
    if not path.exists():
        from fer_zoo.data.adapters.kdef import KDEF_YAWS

        kdef_train, _ = split_kdef(kdef)
        yaws = [KDEF_YAWS[pose] for pose in ("HL", "S", "HR")]
        kdef_train.subset(np.isin(kdef_train.labels["yaw"], yaws)).save(path)
    counts[PRETRAINING_FILE] = len(FaceSet.load(path))
    progress(f"{PRETRAINING_FILE}: {counts[PRETRAINING_FILE]} faces")
    return counts


def load_splits(data_dir, heldout_identities=HELDOUT_IDENTITIES):
    """FER2013 train / PublicTest and KDEF split by identity: `(train, publictest, kdef_train, kdef_test)`."""
    data_dir = pathlib.Path(data_dir)
    fer_train = FaceSet.load(data_dir / "fer2013_train.npz")
    fer_test = FaceSet.load(data_dir / "fer2013_publictest.npz")
    kdef_train, kdef_test = split_kdef(FaceSet.load(data_dir / "kdef.npz"), heldout_identities)
    return fer_train, fer_test, kdef_train, kdef_test


def split_kdef(kdef, heldout_identities=HELDOUT_IDENTITIES):
    """KDEF faces split by identity: `(training identities, held-out identities)`."""
    held = np.isin(kdef.labels["identity"], np.asarray(heldout_identities, dtype=int))
    return kdef.subset(~held), kdef.subset(held)


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


def mixup(images, targets, weights, alpha, seed):
    """Blends each example with its batch's example `batch - 1 - i` (mixup, Zhang et al. 2018).

    `lambda ~ Beta(alpha, alpha)` per example, folded to >= 0.5 so each blend keeps its own face
    dominant; images, target distributions and sample weights are blended with the same lambda.
    Returns the blended `(images, targets, weights)`; the inputs' dtypes are kept.
    """
    import tensorflow as tf

    n = tf.shape(images)[0]
    a = tf.random.gamma([n], alpha, seed=seed)
    b = tf.random.gamma([n], alpha, seed=seed + 1)
    lam = a / tf.maximum(a + b, 1e-12)
    lam = tf.maximum(lam, 1.0 - lam)
    partner = tf.reverse(tf.range(n), [0])
    lam_images = tf.cast(tf.reshape(lam, [-1, 1, 1, 1]), images.dtype)
    lam_targets = tf.cast(lam[:, None], targets.dtype)
    lam_weights = tf.cast(lam, weights.dtype)
    return (lam_images * images + (1 - lam_images) * tf.gather(images, partner),
            lam_targets * targets + (1 - lam_targets) * tf.gather(targets, partner),
            lam_weights * weights + (1 - lam_weights) * tf.gather(weights, partner))


def _dataset(images, targets, weights, batch_size, seed, augment, mixup_alpha=0.0, teacher=None,
             distill_weight=0.0, distill_temperature=1.0):
    """Shuffled, augmented (and, with `mixup_alpha`, mixed) batches of
    `(image, target distribution, sample weight)`; with a `teacher`, each batch's targets become
    `(1 - distill_weight) x targets + distill_weight x` the teacher's softened probabilities on
    that very batch (online distillation)."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, targets.astype(np.float32), weights))
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment:
        pipeline = augmenter(seed)
        data = data.map(lambda x, y, w: (tf.clip_by_value(pipeline(x, training=True), -1.0, 1.0), y, w),
                        num_parallel_calls=1)
    if mixup_alpha:
        data = data.map(lambda x, y, w: mixup(x, y, w, float(mixup_alpha), seed + 7), num_parallel_calls=1)
    if teacher is not None:
        data = data.map(lambda x, y, w: (x, blend_with_teacher(y, teacher(x, training=False), float(distill_weight),
                                                               float(distill_temperature)), w),
                        num_parallel_calls=1)
    return data.prefetch(2)


def predict(model, images, flip=True, batch_size=512):
    """Class probabilities; with `flip`, averaged with the mirrored faces (test-time flip)."""
    probabilities = model.predict(images, batch_size=batch_size, verbose=0)
    if flip:
        probabilities = 0.5 * (probabilities + model.predict(images[:, :, ::-1], batch_size=batch_size, verbose=0))
    return probabilities


def load_teacher(path):
    """A trained classifier to distil from: a `.keras` model, or the `.weights.h5` of the
    `"general"` network (fer-general's preset file, or a `fit` run's `final.weights.h5`)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"teacher {path} does not exist")
    if path.suffix == ".keras":
        return keras.saving.load_model(path, compile=False)
    if not path.name.endswith(".weights.h5"):
        raise ValueError(f"teacher {path}: expected a .keras model or the .weights.h5 of the 'general' network")
    teacher = build_network("general")
    teacher.load_weights(str(path))
    return teacher


def check_distillation(weight, temperature):
    """Raises `ValueError` unless `0 < weight <= 1` and `temperature > 0`."""
    if not 0.0 < weight <= 1.0 or temperature <= 0:
        raise ValueError(f"distill_weight={weight} must be in (0, 1] and distill_temperature={temperature} > 0")


def blend_with_teacher(targets, teacher_probabilities, weight, temperature):
    """`(1 - weight) * targets + weight * softened teacher`: the teacher's probabilities raised to
    `1 / temperature` and renormalised (T > 1 softens). `keras.ops`, so the same blend serves the
    fixed targets (NumPy arrays) and the online ones (tensors inside the input pipeline)."""
    soft = keras.ops.power(keras.ops.clip(keras.ops.cast(teacher_probabilities, "float32"), 1e-8, 1.0),
                           1.0 / temperature)
    soft = soft / keras.ops.sum(soft, -1, keepdims=True)
    return (1.0 - weight) * targets + weight * soft


def distillation_targets(labels, teacher_probabilities, weight, temperature, num_classes=None):
    """`blend_with_teacher(one_hot(labels), ...)`, rows summing to 1; the one-hot labels alone when
    `weight` is 0. `num_classes` defaults to the 7 expressions."""
    one_hot = np.eye(num_classes or len(EXPRESSIONS), dtype=np.float32)[labels]
    if not weight:
        return one_hot
    check_distillation(weight, temperature)
    return np.asarray(blend_with_teacher(one_hot, teacher_probabilities, weight, temperature), dtype=np.float32)


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
    report["confusion"] = confusion_matrix(labels, predicted, len(EXPRESSIONS)).tolist()
    return report


class _Log(keras.callbacks.Callback):
    def __init__(self, stream):
        super().__init__()
        self.stream, self.started = stream, time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: round(float(v), 4) for k, v in (logs or {}).items()}
        print(f"epoch {epoch + 1} {time.time() - self.started:.0f}s {logs}", file=self.stream, flush=True)


def fit(data_dir, out_dir, epochs=None, precision="mixed", seed=0, heldout_identities=HELDOUT_IDENTITIES,
        verbose=0, architecture="general", init=None, teacher=None, model_overrides=None, **overrides):
    """Trains `fer-general` and measures it; see the module docstring.

    Args:
        data_dir: folder written by `prepare`.
        out_dir: run folder (weights, summary, history, resumable backup).
        epochs: int (default `DEFAULTS["epochs"]`); the cosine schedule spans them.
        precision: `"mixed"` (bfloat16 on CPU / float16 on GPU) or `"float32"`.
        seed: shuffling / augmentation / initialisation seed.
        heldout_identities: KDEF identity indices never trained on (accuracy on unseen people).
        verbose: Keras `fit` verbosity.
        architecture: `"general"` (fer-general's network) or `"cnn2a"` (GASCA's CNN2a).
        init: optional pre-trained weights whose matching layers initialise the network (see
            `initialise_from`; e.g. a GASCA2 run's `normalizer.weights.h5`).
        teacher: optional classifier to distil from (`load_teacher`: `.keras`, or the
            `.weights.h5` of the "general" network); needs `distill_weight` > 0.
        model_overrides: CNN2a's GASCA model arguments to change (`cnn2a_config`), e.g.
            `{"shifting_units": [576, 144, 144]}`; recorded in the summary as `model_config`.
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
    clutter = None
    if (pathlib.Path(data_dir) / CLUTTER_FILE).exists() and int(config["clutter_repeat"]):
        clutter, _ = split_kdef(FaceSet.load(pathlib.Path(data_dir) / CLUTTER_FILE), heldout_identities)
    extra = [] if clutter is None else [clutter] * int(config["clutter_repeat"])
    images = np.concatenate([fer_train.images] + [kdef_train.images] * int(config["kdef_repeat"])
                            + [c.images for c in extra])
    labels = np.concatenate([fer_train.labels["expression"]]
                            + [kdef_train.labels["expression"]] * int(config["kdef_repeat"])
                            + [c.labels["expression"] for c in extra]).astype(int)
    weights = class_weights(labels, config["class_weight_power"])[labels]
    if bool(teacher) != bool(config["distill_weight"]):
        raise ValueError("distillation needs both a teacher and distill_weight > 0 "
                         f"(teacher={teacher!r}, distill_weight={config['distill_weight']})")
    if config["distill_mode"] not in ("fixed", "online"):
        raise ValueError(f"distill_mode={config['distill_mode']!r}; choose 'fixed' or 'online'")
    online_teacher, teacher_probabilities = None, None
    if teacher:
        # Checked before the teacher reads ~48k faces (fixed mode) or any batch (online mode).
        check_distillation(config["distill_weight"], config["distill_temperature"])
        if config["distill_mode"] == "online":
            online_teacher = load_teacher(teacher)
        else:
            # Each distinct face once (KDEF and its clutter crops are repeated in `images`), then
            # laid out like `images`.
            distinct = [fer_train.images, kdef_train.images] + ([] if clutter is None else [clutter.images])
            unique = predict(load_teacher(teacher), np.concatenate(distinct))
            kdef_end = len(fer_train) + len(kdef_train)
            teacher_probabilities = np.concatenate(
                [unique[:len(fer_train)]] + [unique[len(fer_train):kdef_end]] * int(config["kdef_repeat"])
                + [unique[kdef_end:]] * len(extra))
    # Online distillation mixes the teacher in per batch (`_dataset`): start from the labels.
    targets = distillation_targets(labels, teacher_probabilities,
                                   0.0 if online_teacher is not None else config["distill_weight"],
                                   config["distill_temperature"])
    steps = -(-len(images) // int(config["batch_size"]))
    model = build_network(architecture, model_overrides)
    if init and architecture == "general" and str(init).endswith(".weights.h5"):
        model.load_weights(str(init))  # fine-tuning a trained fer-general (e.g. the shipped weights)
        initialised = ["all layers"]
    else:
        initialised = initialise_from(model, init) if init else []
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
        print(f"start {time.ctime()} {architecture} train faces {len(images)} (FER2013 {len(fer_train)}, "
              f"KDEF {len(kdef_train)} x{config['kdef_repeat']}, KDEF on clutter "
              f"{0 if clutter is None else len(clutter)} x{len(extra)}), config {config}, policy {policy}, "
              f"initialised from {init}: {initialised}", file=log, flush=True)
        started = time.time()
        model.fit(
            _dataset(images, targets, weights, int(config["batch_size"]), seed, augment=True,
                     mixup_alpha=float(config["mixup_alpha"]), teacher=online_teacher,
                     distill_weight=config["distill_weight"], distill_temperature=config["distill_temperature"]),
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
        "config": config, "architecture": architecture,
        "model_config": cnn2a_config(architecture, **(model_overrides or {})) if architecture != "general" else None,
        "init": str(init) if init else None,
        "teacher": str(teacher) if teacher else None,
        "teacher_train_accuracy": None if teacher_probabilities is None
        else round(float((teacher_probabilities.argmax(-1) == labels).mean()), 4),
        "initialised_layers": initialised, "seed": seed, "precision": str(policy), "train_seconds": round(seconds, 1),
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
    p.add_argument("--clutter-copies", type=int, default=0,
                   help=f"also write {CLUTTER_FILE}: each KDEF training photo pasted this many times on clutter")
    f = sub.add_parser("fit", help="train and measure")
    f.add_argument("--data", required=True, help="folder written by `prepare`")
    f.add_argument("--out", required=True)
    f.add_argument("--epochs", type=int, default=None)
    f.add_argument("--precision", default="mixed", choices=["mixed", "float32"])
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--architecture", default="general", choices=ARCHITECTURES)
    f.add_argument("--init", default=None, help="pre-trained weights whose matching layers initialise "
                   "the network (.keras, or a GASCA run's normalizer.weights.h5)")
    f.add_argument("--teacher", default=None, help="classifier to distil from (.keras, or the .weights.h5 "
                   "of the 'general' network, e.g. fer-general's); with --set distill_weight=W "
                   "[distill_mode=online]")
    f.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override DEFAULTS")
    f.add_argument("--model-set", nargs="*", default=[], metavar="KEY=JSON",
                   help="override CNN2a's GASCA model arguments, e.g. shifting_units=[576,144,144]")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.kdef, args.fer2013, args.out)
        if args.clutter_copies:
            prepare_clutter(args.kdef, args.out, args.clutter_copies)
        return 0
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = type(DEFAULTS[key])(value) if key in DEFAULTS else value
    model_overrides = {}
    for item in args.model_set:
        key, _, value = item.partition("=")
        model_overrides[key] = json.loads(value)
    summary = fit(args.data, args.out, epochs=args.epochs, precision=args.precision, seed=args.seed,
                  architecture=args.architecture, init=args.init, teacher=args.teacher,
                  model_overrides=model_overrides or None, **overrides)
    for key in ("fer2013_publictest_plain", "fer2013_publictest_flip", "kdef_heldout_plain", "kdef_heldout_flip"):
        print(f"{key}: {summary[key]['accuracy']:.4f} ({summary[key]['n']} faces)")
    print(f"all numbers: {pathlib.Path(args.out) / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
