"""A small CNN that tells a face from background among the profile cascade's weak windows.

OpenCV's Haar profile cascade (`haarcascade_profileface.xml`) reports a face where at least
`PROFILE_MIN_NEIGHBORS + 1` of its raw windows agree. On plain studio photos that finds ~90 % of
full profiles; on cluttered photos a profile often fires only one or two windows and is dropped,
while a texture fires as many (docs/profiles.md). Lowering the cascade's threshold finds those
profiles and many textures with them; this verifier reads every window cluster that the cascade's
grouping dropped (a 32 px grey crop, flipped so it always faces the cascade's way) and keeps the
ones it calls a face. `FacePreprocessor(verify_profiles=True)` uses it; the windows it reads are
`FacePreprocessor.profile_windows` (train/serve parity).

Training data (`python -m fer_zoo.data.profile_verifier prepare`): the 12 KDEF identities every
preset is evaluated on (`HELDOUT_IDENTITIES`) are left out; the 48 others are cut out of the studio background
(`fer_zoo.data.composite.segment_person`) and pasted, three per photo, on `training_clutter`
backgrounds (polygons, ellipses, text, stripes), plus clutter-only photos and the studio photos
themselves. A window is a face when its centre lies in the face box the default detector finds on
the studio photo (mapped into the composite), background when it lies off every person or on a
person far from the face; others (e.g. on a person whose studio photo gave no face box) are left
out. `train` fits the CNN and picks the acceptance threshold on identities and backgrounds kept out
of the fit.

```bash
python -m fer_zoo.data.profile_verifier prepare --kdef KDEF --out /tmp/verifier_data
python -m fer_zoo.data.profile_verifier train --data /tmp/verifier_data --out fer_zoo/data/weights
```

Reference: P. Viola, M. Jones, Rapid object detection using a boosted cascade of simple features
(CVPR 2001): the cascade whose weak detections this re-scores.
"""

import argparse
import functools
import hashlib
import json
import pathlib
import time

import numpy as np

from fer_zoo.data.preprocessing import PROFILE_WINDOW_PX, profile_window_crops

WEIGHTS = pathlib.Path(__file__).with_name("weights") / "profile_verifier.weights.h5"
CARD = WEIGHTS.with_name("profile_verifier.json")  # sha256, threshold and the measurements behind it
HELDOUT_IDENTITIES = (2, 4, 8, 10, 16, 20, 27, 34, 42, 51, 52, 57)  # as benchmarks.versus_fer
VALIDATION_IDENTITIES = (1, 13, 25, 37, 45, 55)  # training identities kept out of the fit (threshold)


def build_verifier(size=PROFILE_WINDOW_PX):
    """Functional Keras model: grey `(size, size, 1)` crop in [-1, 1] -> face logit."""
    import keras

    inputs = keras.Input((size, size, 1), name="window")
    x = inputs
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    outputs = keras.layers.Dense(1, dtype="float32", name="face_logit")(x)
    return keras.Model(inputs, outputs, name="profile_verifier")


def _sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


@functools.cache
def load_verifier(weights=str(WEIGHTS), card=str(CARD)):
    """`(model, threshold)` from the shipped weights, checked against the card's SHA-256."""
    card = json.loads(pathlib.Path(card).read_text())
    digest = _sha256(weights)
    if digest != card["sha256"]:
        raise OSError(f"{weights}: SHA-256 {digest} does not match {card['sha256']} in the profile verifier's card "
                      "(a damaged or replaced file: reinstall fer_zoo)")
    model = build_verifier(card.get("size", PROFILE_WINDOW_PX))
    model.load_weights(weights)
    return model, float(card["threshold"])


def face_probability(crops, model=None):
    """Probability that each crop of `profile_window_crops` shows a face."""
    crops = np.asarray(crops, np.float32)
    if not len(crops):
        return np.zeros((0,), np.float32)
    model = model or load_verifier()[0]
    # A photo has a few windows: pad to a multiple of 8 so that the compiled predict function sees
    # few batch shapes (2.5 ms a call against ~9 ms for an eager call).
    padded = np.concatenate([crops, np.zeros(((-len(crops)) % 8, *crops.shape[1:]), np.float32)])
    logits = np.concatenate([np.asarray(model.predict_on_batch(padded[i:i + 512])).reshape(-1)
                             for i in range(0, len(padded), 512)])[:len(crops)]
    return 1.0 / (1.0 + np.exp(-logits))


def accepts(crops):
    """Boolean per crop: the shipped verifier calls it a face (probability >= its threshold)."""
    model, threshold = load_verifier()
    return face_probability(crops, model) >= threshold


# -- training data ------------------------------------------------------------------------------
def _label_windows(windows, people, face_boxes):
    """1 face, 0 background, -1 left out, for each `(box, mirrored, grouped)` window; `people`
    are the pasted persons' boxes and `face_boxes` their face boxes (None when unknown)."""
    from fer_zoo.data.preprocessing import _iou

    labels = []
    for box, _, _ in windows:
        cx, cy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
        label = 0
        for (px, py, pw, ph), face in zip(people, face_boxes):
            if not (px <= cx <= px + pw and py <= cy <= py + ph):
                continue
            if face is None:
                label = -1
                break
            fx, fy, fw, fh = face
            if fx <= cx <= fx + fw and fy <= cy <= fy + fh:
                label = 1
            elif _iou(box, face) < 0.1 and not (fx - 0.3 * fw <= cx <= fx + 1.3 * fw and fy - 0.3 * fh <= cy <= fy + 1.3 * fh):
                label = 0
            else:
                label = -1
            break
        labels.append(label)
    return labels


def _mask_box(mask):
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return 0, 0, mask.shape[1], mask.shape[0]
    return xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1


def _map_box(face, source_box, pasted_box):
    """`face` (x, y, w, h) in a studio photo -> where it lands after the person (bounding box
    `source_box`) was pasted with bounding box `pasted_box` (uniform scale)."""
    scale = pasted_box[2] / max(1, source_box[2])
    return ((face[0] - source_box[0]) * scale + pasted_box[0], (face[1] - source_box[1]) * scale + pasted_box[1],
            face[2] * scale, face[3] * scale)


SOURCES = ("studio", "composites", "clutter", "clutter_fine")  # the parts `prepare` writes, in order


def prepare(kdef_root, out, composites_per_person=4, clutter_photos=6000, seed=0, poses=("FL", "HL", "HR", "FR"),
            progress=print):
    """Writes `out/windows.npz`: crops (uint8), labels, group (0 fit, 1 validation), source (index
    into `SOURCES`) and grouped (the cascade's own grouping keeps the window) of every labelled
    window (see the module docstring). Each part is cached as `out/part_<source>.npz` and the
    person masks in `out/masks/`: a killed run resumes; delete a part to rebuild it."""
    from fer_zoo.data.adapters.kdef import kdef_labels, scan_kdef
    from fer_zoo.data.composite import compose_people, person_mask, person_masks, training_clutter
    from fer_zoo.data.preprocessing import FacePreprocessor, read_image

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    detector = FacePreprocessor(size=48, channels=1)  # the Recognizer's detector settings
    # Background windows from a finer search too (more, and other, windows per clutter photo).
    finer = FacePreprocessor(size=48, channels=1, profile_face_px=40)
    started = time.time()

    class Part:
        def __init__(self):
            self.crops, self.labels, self.groups, self.grouped = [], [], [], []

        def add(self, image, windows, window_labels, group):
            for mirrored in (False, True):
                chosen = [(w, y) for w, y in zip(windows, window_labels) if y >= 0 and w[1] == mirrored]
                if chosen:
                    self.crops.append(profile_window_crops(image, [w[0] for w, _ in chosen], mirrored))
                    self.labels.extend(y for _, y in chosen)
                    self.groups.extend([group] * len(chosen))
                    self.grouped.extend(w[2] for w, _ in chosen)

        def save(self, path):
            crops = np.concatenate(self.crops) if self.crops else np.zeros(
                (0, PROFILE_WINDOW_PX, PROFILE_WINDOW_PX, 1), np.float32)
            np.savez_compressed(path, crops=((crops + 1) * 127.5).round().astype(np.uint8),
                                labels=np.asarray(self.labels, np.int8), groups=np.asarray(self.groups, np.int8),
                                grouped=np.asarray(self.grouped, bool))
            progress(f"{path.name}: {len(self.labels)} windows ({sum(self.labels)} faces), {time.time() - started:.0f} s")

    def part_path(source):
        return out / f"part_{source}.npz"

    if not (part_path("studio").exists() and part_path("composites").exists()):
        paths, records, codes = scan_kdef(kdef_root, tuple(poses))
        identity = np.asarray(kdef_labels(records, codes)["identity"])
        keep = ~np.isin(identity, HELDOUT_IDENTITIES)
        paths, identity = list(np.asarray(paths)[keep]), identity[keep]
        mask_dir = out / "masks"
        person_masks(paths, mask_dir, progress)
        people, studio = [], Part()  # people: (rgb, mask, face box or None, group)
        for index, path in enumerate(paths):
            rgb = read_image(path)
            faces = detector.process(rgb, max_faces=1)
            face = faces[0].box if faces else None
            group = int(identity[index] in VALIDATION_IDENTITIES)
            people.append((rgb, person_mask(path, mask_dir, rgb), face, group))
            if face is not None:  # the studio photo itself: windows on the plain background and the body
                windows = detector.profile_windows(rgb)
                studio.add(rgb, windows, _label_windows(windows, [(0, 0, rgb.shape[1], rgb.shape[0])], [face]), group)
        studio.save(part_path("studio"))
        rng, composites = np.random.default_rng(seed), Part()
        for group in (0, 1):
            members = [p for p in people if p[3] == group]
            for _ in range(composites_per_person * len(members) // 3):
                chosen = [members[i] for i in rng.choice(len(members), 3, replace=False)]
                photo, boxes = compose_people([(p[0], p[1]) for p in chosen], rng, scale=(0.3, 0.7),
                                              background=training_clutter)
                faces = [None if p[2] is None else _map_box(p[2], _mask_box(p[1]), b) for p, b in zip(chosen, boxes)]
                windows = detector.profile_windows(photo)
                composites.add(photo, windows, _label_windows(windows, boxes, faces), group)
        composites.save(part_path("composites"))
    for offset, (source, searcher) in enumerate((("clutter", detector), ("clutter_fine", finer)), start=1):
        if part_path(source).exists():
            continue
        rng, part = np.random.default_rng(seed + offset), Part()
        for index in range(clutter_photos):
            height = int(rng.integers(240, 720))
            photo = training_clutter(rng, height, int(height * rng.uniform(1.0, 1.9)))
            windows = searcher.profile_windows(photo)
            part.add(photo, windows, [0] * len(windows), int(index % 5 == 0))
        part.save(part_path(source))
    parts = [np.load(part_path(source)) for source in SOURCES]
    merged = {key: np.concatenate([part[key] for part in parts]) for key in ("crops", "labels", "groups", "grouped")}
    merged["sources"] = np.concatenate([np.full(len(part["labels"]), i, np.int8) for i, part in enumerate(parts)])
    np.savez_compressed(out / "windows.npz", **merged)
    return out / "windows.npz"


def train(data, out, epochs=20, seed=0, min_threshold=0.9, progress=print):
    """Fits the verifier on group 0, picks the threshold on group 1 and writes weights + card to
    `out`. The threshold is the higher of `min_threshold` and just above every validation window on
    a person-free background (`clutter`, `clutter_fine`): a detection there is a false face in a
    texture. Windows on a person off the face (hair, ear, shoulder) are reported apart: accepting
    one finds the right person with a poor box. The card also reports the share of validation faces
    accepted among the weak windows (those the cascade's grouping drops: what the verifier adds)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    data = np.load(data)
    crops = data["crops"].astype(np.float32) / 127.5 - 1.0
    labels, groups, sources, grouped = (data["labels"].astype(np.float32), data["groups"], data["sources"],
                                        data["grouped"])
    fit, held = groups == 0, groups == 1
    positives = labels[fit].mean()
    model = build_verifier()
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0), keras.metrics.AUC(from_logits=True)])
    augment = keras.Sequential([keras.layers.RandomTranslation(0.06, 0.06, fill_mode="nearest", seed=seed),
                                keras.layers.RandomZoom(0.08, fill_mode="nearest", seed=seed),
                                keras.layers.RandomContrast(0.3, value_range=(-1, 1), seed=seed),
                                keras.layers.RandomBrightness(0.2, value_range=(-1, 1), seed=seed)])
    dataset = (tf.data.Dataset.from_tensor_slices((crops[fit], labels[fit])).shuffle(len(labels), seed=seed)
               .batch(128).map(lambda x, y: (augment(x, training=True), y)).prefetch(2))
    # Each class weighs half of the loss, whatever the share of faces among the windows.
    history = model.fit(dataset, epochs=epochs, class_weight={0: 0.5 / (1 - positives), 1: 0.5 / positives},
                        verbose=2, validation_data=(crops[held], labels[held]))
    probability = face_probability(crops[held], model)
    is_face, is_background = labels[held] == 1, labels[held] == 0
    person_free = is_background & np.isin(sources[held], [SOURCES.index("clutter"), SOURCES.index("clutter_fine")])
    threshold = max(float(min_threshold), float(probability[person_free].max(initial=0.0)) + 1e-6)

    def rates(at):
        accepted = probability >= at
        weak = ~grouped[held]
        row = {"threshold": round(float(at), 6),
               "faces_accepted": float(accepted[is_face].mean()),
               "weak_faces_accepted": float(accepted[is_face & weak].mean()) if (is_face & weak).any() else None,
               "background_accepted": float(accepted[is_background].mean()),
               "person_free_background_accepted": float(accepted[person_free].mean())}
        for index, source in enumerate(SOURCES):
            chosen = is_background & (sources[held] == index)
            if chosen.any():
                row[f"background_accepted_{source}"] = float(accepted[chosen].mean())
        return row

    summary = {
        "size": PROFILE_WINDOW_PX, "threshold": threshold, "seed": seed, "epochs": epochs,
        "min_threshold": min_threshold,
        "windows": {"fit": int(fit.sum()), "validation": int(held.sum()), "fit_faces": int(labels[fit].sum()),
                    "validation_faces": int(is_face.sum()),
                    "validation_weak_faces": int((is_face & ~grouped[held]).sum())},
        "validation": rates(threshold),
        "validation_curve": [rates(at) for at in (0.5, 0.7, 0.9, 0.99)],
        "final_epoch": {k: round(float(v[-1]), 4) for k, v in history.history.items()},
    }
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights_path = out / WEIGHTS.name
    model.save_weights(weights_path)
    summary["sha256"] = _sha256(weights_path)
    (out / CARD.name).write_text(json.dumps(summary, indent=2) + "\n")
    progress(json.dumps(summary, indent=2))
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="labelled profile-cascade windows from KDEF training identities")
    p.add_argument("--kdef", required=True, help="KDEF folder")
    p.add_argument("--out", required=True)
    p.add_argument("--composites-per-person", type=int, default=4)
    p.add_argument("--clutter-photos", type=int, default=6000)
    p.add_argument("--seed", type=int, default=0)
    t = commands.add_parser("train", help="fit the verifier and pick its threshold")
    t.add_argument("--data", required=True, help="the folder `prepare` wrote")
    t.add_argument("--out", required=True, help="folder for profile_verifier.weights.h5 and .json")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        if not pathlib.Path(args.kdef).is_dir():
            parser.error(f"--kdef {args.kdef}: not a folder")
        prepare(args.kdef, args.out, args.composites_per_person, args.clutter_photos, args.seed)
    else:
        data = pathlib.Path(args.data) / "windows.npz"
        if not data.exists():
            parser.error(f"--data {args.data}: no windows.npz (run `prepare` first)")
        train(data, args.out, args.epochs, args.seed)


if __name__ == "__main__":
    main()
