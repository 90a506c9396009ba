"""fer_zoo against the `fer` package on real images neither was tuned on, through the whole pipeline.

Each row is one image set; both pipelines get the same decoded images, one call per image
(detection, alignment / cropping and classification included), and a miss ("no face") counts as
wrong. Image sets:

* `kdef`: KDEF photos of the identities held out of the general preset's training, straight
  from the KDEF folder (`--kdef-root`): one row per pose (FL, HL, S, HR, FR), where "faces found"
  is the detection recall, plus HL/S/HR and FL/FR together. (`--kdef-faceset`, the older
  input, takes the photos a cached FaceSet recorded, i.e. only those its preprocessor found.)
* `fer2013`: FER2013 PublicTest (48x48 crops; the general preset never trained on them) —
  `--fer2013` is the class-folder root (`publictest/<class>/*.jpg`). `fer` is also run with the
  whole crop given as the face box, which is how its published ~66 % was measured.

```bash
pip install --no-deps fer==25.10.3 && pip install -e ".[bench]"
python -m benchmarks.versus_fer --preset fer-general --kdef-root /tmp/data/KDEF \
    --fer2013 /tmp/data/fer2013 --out /tmp/versus_fer
```

Writes `OUT/versus_fer.json` and `OUT/versus_fer.md` (accuracy, per class, faces found, ms per image).

Speed: the "ms / image" columns time each pipeline in its own pass over the images, so a load that
changes during the run can favour either. `--speed-photos N` (with `--kdef-root`) also times both
on the same N HL/S/HR photos called alternately, twice over (`--speed-only`: just that):

```bash
python -m benchmarks.versus_fer --kdef-root /tmp/data/KDEF --speed-only --speed-photos 90 --out /tmp/speed
```
"""

import argparse
import json
import pathlib
import time

import numpy as np

from benchmarks.common import fmt, machine_info, markdown_table
from fer_zoo.data.adapters.kdef import KDEF_POSES, KDEF_YAWS
from fer_zoo.data.faceset import EXPRESSIONS

# The 12 KDEF identities no KDEF-trained preset's reported accuracy was trained on.
HELDOUT_IDENTITIES = (2, 4, 8, 10, 16, 20, 27, 34, 42, 51, 52, 57)


def kdef_images(faceset_path, identities, yaws):
    """RGB photos, labels and paths of a KDEF FaceSet's source files (held-out identities)."""
    from benchmarks.photos import load_photos

    photos, labels, _, paths = load_photos(faceset_path, identities, yaws)
    return photos, np.asarray(labels, int), paths


def kdef_pose_images(kdef_root, identities, poses=KDEF_POSES):
    """RGB photos, labels, paths and pose codes of the identities' photos at `poses`, straight
    from the KDEF folder (every photo, whether or not a detector finds a face in it)."""
    import cv2

    from fer_zoo.data.adapters.kdef import kdef_labels, scan_kdef

    paths, records, codes = scan_kdef(kdef_root, tuple(poses))
    labels = kdef_labels(records, codes)
    keep = np.isin(labels["identity"], list(identities))
    kept = np.asarray(paths)[keep]
    photos = []
    for path in kept:
        image = cv2.imread(str(path))
        if image is None:
            raise FileNotFoundError(f"--kdef-root {kdef_root}: cannot read {path}")
        photos.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    pose_of = {int(yaw): pose for pose, yaw in KDEF_YAWS.items()}
    pose = np.array([pose_of[int(round(y))] for y in labels["yaw"][keep]])
    return photos, labels["expression"][keep].astype(int), [str(p) for p in kept], pose


def fer2013_images(root, limit=None, seed=0):
    import cv2

    root = pathlib.Path(root)
    split = next((root / name for name in ("publictest", "PublicTest", "test") if (root / name).is_dir()), None)
    if split is None:
        raise SystemExit(f"--fer2013 {root}: no publictest/ folder of class folders.")
    items = [(p, EXPRESSIONS.index(c.name.lower())) for c in sorted(split.iterdir()) if c.is_dir()
             for p in sorted(c.glob("*.*"))]
    if limit:
        items = [items[i] for i in np.random.default_rng(seed).permutation(len(items))[:limit]]
    photos = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p, _ in items]
    return photos, np.array([y for _, y in items]), [str(p) for p, _ in items]


def run_fer_zoo(preset, photos, weights="default", runtime="auto"):
    import fer_zoo

    recognizer = fer_zoo.Recognizer(fer_zoo.load(preset, weights=weights), runtime=runtime)
    recognizer.predict(photos[0])
    predicted, found, seconds = [], [], []
    for photo in photos:
        started = time.perf_counter()
        result = recognizer.predict(photo)
        seconds.append(time.perf_counter() - started)
        face = max(result.faces, key=lambda f: f.box[2] * f.box[3]) if result.faces else None
        predicted.append(EXPRESSIONS.index(face.label) if face else -1)
        found.append(bool(result.faces))
    return np.array(predicted), np.array(found), np.array(seconds)


def run_fer(photos, whole_crop=False):
    import cv2
    from fer.fer import FER

    detector = FER(mtcnn=False)
    bgr = [cv2.cvtColor(p, cv2.COLOR_RGB2BGR) for p in photos]
    detector.detect_emotions(bgr[0])
    predicted, found, seconds = [], [], []
    for image in bgr:
        boxes = [(0, 0, image.shape[1], image.shape[0])] if whole_crop else None
        started = time.perf_counter()
        faces = detector.detect_emotions(image, face_rectangles=boxes)
        seconds.append(time.perf_counter() - started)
        face = max(faces, key=lambda f: f["box"][2] * f["box"][3]) if faces else None
        predicted.append(EXPRESSIONS.index(max(face["emotions"], key=face["emotions"].get)) if face else -1)
        found.append(bool(faces))
    return np.array(predicted), np.array(found), np.array(seconds)


def interleaved_speed(preset, photos, rounds=2, weights="default", runtime="auto"):
    """Per-photo ms of both whole pipelines on the same photos, the two called alternately on
    each photo (which one first alternates too), so a machine load that changes during the run
    affects both alike. Returns `{pipeline: {"median_ms", "mean_ms"}, "ratio_median": zoo / fer}`."""
    import cv2
    from fer.fer import FER

    import fer_zoo

    recognizer = fer_zoo.Recognizer(fer_zoo.load(preset, weights=weights), runtime=runtime)
    detector = FER(mtcnn=False)
    bgr = [cv2.cvtColor(p, cv2.COLOR_RGB2BGR) for p in photos]
    recognizer.predict(photos[0])
    detector.detect_emotions(bgr[0])
    calls = {"fer_zoo": lambda i: recognizer.predict(photos[i]), "fer": lambda i: detector.detect_emotions(bgr[i])}
    times = {name: [] for name in calls}
    for round_ in range(rounds):
        for i in range(len(photos)):
            order = ("fer_zoo", "fer") if (i + round_) % 2 == 0 else ("fer", "fer_zoo")
            for name in order:
                started = time.perf_counter()
                calls[name](i)
                times[name].append(time.perf_counter() - started)
    result = {name: {"median_ms": 1e3 * float(np.median(t)), "mean_ms": 1e3 * float(np.mean(t))}
              for name, t in times.items()}
    result["ratio_median"] = result["fer_zoo"]["median_ms"] / result["fer"]["median_ms"]
    result["photos"], result["rounds"] = len(photos), rounds
    return result


def score(name, predicted, labels, found, seconds):
    correct = predicted == labels
    return {
        "pipeline": name, "images": int(len(labels)), "with_face": int(found),
        "accuracy": float(correct.mean()), "ms_per_image": 1e3 * seconds,
        "per_class": {c: float(correct[labels == i].mean()) for i, c in enumerate(EXPRESSIONS) if (labels == i).any()},
    }


def markdown(rows):
    headers = ["images", "pipeline", "accuracy", "faces found", "ms / image"] + list(EXPRESSIONS)
    table = [[r["set"], r["pipeline"], fmt(100 * r["accuracy"]) + " %", f"{r['with_face']}/{r['images']}",
              fmt(r["ms_per_image"])] + [fmt(100 * r["per_class"].get(c, float("nan"))) for c in EXPRESSIONS]
             for r in rows]
    return markdown_table(headers, table)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="fer-general")
    parser.add_argument("--weights", default="default")
    parser.add_argument("--runtime", default="auto", choices=("auto", "tf", "tflite", "tflite-int8"),
                        help="fer_zoo.Recognizer's runtime (auto: the preset's choice)")
    parser.add_argument("--kdef-faceset", default=None, help="kdef.npz from general.train prepare")
    parser.add_argument("--kdef-root", default=None, help="KDEF folder: one row per pose of the held-out identities")
    parser.add_argument("--identities", type=int, nargs="*", default=list(HELDOUT_IDENTITIES))
    parser.add_argument("--fer2013", default=None, help="FER2013 class-folder root (publictest/)")
    parser.add_argument("--fer2013-limit", type=int, default=None)
    parser.add_argument("--speed-photos", type=int, default=0,
                        help="also time both pipelines alternately on this many HL/S/HR photos of --kdef-root "
                             "(load-robust speed comparison)")
    parser.add_argument("--speed-only", action="store_true", help="only the --speed-photos comparison")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.speed_only and not args.speed_photos:
        args.speed_photos = 60
    sets = []
    speed = None
    if args.speed_photos:
        if not args.kdef_root:
            raise SystemExit("--speed-photos needs --kdef-root.")
        photos, _labels, _paths, poses = kdef_pose_images(args.kdef_root, args.identities, poses=("HL", "S", "HR"))
        pick = np.random.default_rng(0).permutation(len(photos))[:args.speed_photos]
        speed = interleaved_speed(args.preset, [photos[i] for i in pick], weights=args.weights,
                                  runtime=args.runtime)
        print(f"speed, {len(pick)} HL/S/HR photos, alternating: fer_zoo {speed['fer_zoo']['median_ms']:.1f} ms, "
              f"fer {speed['fer']['median_ms']:.1f} ms (median per photo; ratio {speed['ratio_median']:.2f})", flush=True)
    if args.kdef_faceset:
        sets.append(("KDEF held-out ids, HL/S/HR photos (FaceSet)", *kdef_images(args.kdef_faceset, args.identities, None), False))
    if args.kdef_root:
        photos, labels, paths, poses = kdef_pose_images(args.kdef_root, args.identities)
        sets.append(("KDEF held-out ids, all poses", photos, labels, paths, False))
    if args.fer2013:
        sets.append(("FER2013 PublicTest crops", *fer2013_images(args.fer2013, args.fer2013_limit), True))
    if args.speed_only:
        sets = []
    elif not sets:
        raise SystemExit("Give --kdef-faceset, --kdef-root and/or --fer2013.")
    rows = []
    for name, photos, labels, _paths, crops in sets:
        print(f"{name}: {len(photos)} images", flush=True)
        runs = [(f"fer_zoo.Recognizer({args.preset!r})", run_fer_zoo(args.preset, photos, args.weights, args.runtime)),
                ("fer.FER(mtcnn=False)", run_fer(photos))]
        if crops:
            runs.append(("fer.FER, whole crop as the face box", run_fer(photos, whole_crop=True)))
        if name == "KDEF held-out ids, all poses":
            # One row per pose and per pose group; each image's result is kept, so the groups are
            # subsets of the same run (same machine load).
            groups = [(p, poses == p) for p in KDEF_POSES]
            groups += [("HL/S/HR", np.isin(poses, ("HL", "S", "HR"))), ("FL/FR", np.isin(poses, ("FL", "FR")))]
            for group, mask in groups:
                for pipeline, (predicted, found_each, seconds) in runs:
                    rows.append({"set": f"KDEF held-out ids, {group}", **score(
                        pipeline, predicted[mask], labels[mask], int(found_each[mask].sum()), seconds[mask].mean())})
        else:
            for pipeline, (predicted, found_each, seconds) in runs:
                rows.append({"set": name, **score(pipeline, predicted, labels, int(found_each.sum()), seconds.mean())})
        print(markdown(rows), flush=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "versus_fer.json").write_text(json.dumps(
        {"machine": machine_info(), "args": vars(args), "results": rows, "interleaved_speed": speed}, indent=2))
    (out / "versus_fer.md").write_text(markdown(rows) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
