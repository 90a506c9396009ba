"""Face detection recall per yaw, frontal to full profile, on cluttered multi-face SynthFER photos.

SynthFER knows every head's exact pose and position, so this needs no licensed data: each photo
holds `--faces` rendered heads (random identity, expression, light) at one yaw on a procedural
cluttered background (rectangles, lines, blobs, noise). A head counts as found when a detection's
centre falls inside it; a detection whose centre is on no head is a false positive.

```bash
python -m benchmarks.profiles --photos 12 --out /tmp/profiles
```
Writes `OUT/profiles.json` and `OUT/profiles.md` (per yaw: heads, found, recall, false positives,
ms per photo) and `OUT/profiles_example.png` (one photo per yaw with the boxes drawn).

`--mtcnn` also measures the MTCNN detector of the `mtcnn` pip package (weights inside its wheel;
`pip install mtcnn` — not a fer_zoo dependency) on the same photos, at its default thresholds
and at 0.5 for all three stages, so the detector choice in docs/profiles.md can be re-checked.
`--profile-face-px 36` also measures the preset's detector with the finer profile search, and
`--without-verifier` without the profile verifier (`FacePreprocessor(verify_profiles=False)`: the
cascade's own grouping alone, the detector before 2026-12-05).

`--kdef-root KDEF` adds real people on the same clutter: photos of the KDEF identities held out of
every preset's training (`benchmarks.versus_fer.HELDOUT_IDENTITIES`), each person cut from the
plain studio background (GrabCut seeded by the photo's border) and pasted, 3 per photo, on a
cluttered background; per KDEF pose (FL, HL, S, HR, FR): detection recall, false positives and
expression accuracy through the whole `Recognizer` (a missed person counts as wrong). Writes
`OUT/kdef_clutter.md`, `.json` and `OUT/kdef_clutter_example.png`. SynthFER's rendered heads
differ from photographed ones; this tells whether a miss on clutter is the clutter or the render.

```bash
python -m benchmarks.profiles --photos 12 --kdef-root KDEF --out /tmp/profiles
```
`--with-fer` adds the `fer` package (`pip install --no-deps fer`) on the same KDEF-on-clutter photos,
`--mixed` photos of one frontal (S) person beside one FL and one FR person (the profile search then
runs beside the frontal face), rows "S / FL / FR beside others".
"""

import argparse
import json
import pathlib
import time

import numpy as np

from benchmarks.common import fmt, machine_info, markdown_table
from fer_zoo.data.composite import clutter, compose_people, segment_person  # noqa: F401 (re-exported)

YAWS = (-90, -75, -60, -45, -30, 0, 30, 45, 60, 75, 90)
HEAD_PX = 120


def compose(renderer, rng, yaw, faces=3):
    """`(photo, head boxes)`: `faces` heads at `yaw` on a cluttered background, side by side."""
    from fer_zoo.data.synthfer import EXPRESSIONS

    photo = clutter(rng)
    boxes = []
    for slot in range(faces):
        identity = int(rng.integers(0, 10_000))
        expression = EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))]
        light = renderer.sample_light(rng, harsh=False)
        head = renderer.render(identity, expression, yaw=float(yaw), light=light)
        head = np.round((np.asarray(head) + 1.0) * 127.5).astype(np.uint8)
        # The renderer's plain background is replaced by the clutter: keep pixels that differ
        # from the corner colour (the head, hair and neck).
        corner = head[:4, :4].reshape(-1, 3).mean(0)
        mask = np.abs(head.astype(np.float32) - corner).sum(-1) > 12
        x0 = 20 + slot * (photo.shape[1] - 40) // faces + int(rng.integers(0, 40))
        y0 = int(rng.integers(40, photo.shape[0] - HEAD_PX - 20))
        region = photo[y0:y0 + HEAD_PX, x0:x0 + HEAD_PX]
        region[mask] = head[mask]
        boxes.append((x0, y0, HEAD_PX, HEAD_PX))
    return photo, boxes


def head_at(box, boxes):
    """Index of the first of `boxes` that holds `box`'s centre (all `(x, y, w, h)`), or None."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return next((i for i, (x, y, w, h) in enumerate(boxes) if x <= cx <= x + w and y <= cy <= y + h), None)


def measure(preprocessor, photos_per_yaw=12, faces=3, seed=0, yaws=YAWS):
    """Per-yaw detection counts of `preprocessor` (a `FacePreprocessor`) and example photos."""
    from fer_zoo.data.synthfer import SynthFER

    renderer = SynthFER(image_size=HEAD_PX, channels=3, seed=seed + 11)
    rng = np.random.default_rng(seed)
    rows, examples = [], {}
    for yaw in yaws:
        found = false_positives = heads = 0
        seconds = []
        for index in range(photos_per_yaw):
            photo, boxes = compose(renderer, rng, yaw, faces)
            started = time.perf_counter()
            results = preprocessor.process(photo)
            seconds.append(time.perf_counter() - started)
            hit = [False] * len(boxes)
            for result in results:
                head = head_at(result.box, boxes)
                if head is not None:
                    hit[head] = True
                else:
                    false_positives += 1
            found += sum(hit)
            heads += len(boxes)
            if index == 0:
                examples[yaw] = (photo, [r.box for r in results])
        rows.append({"yaw": int(yaw), "heads": heads, "found": found, "recall": found / heads,
                     "false_positives": false_positives, "ms_per_photo": 1e3 * float(np.mean(seconds))})
    return rows, examples


MTCNN_SETTINGS = {
    "mtcnn (default thresholds)": {},
    "mtcnn (thresholds 0.5)": {"threshold_pnet": 0.5, "threshold_rnet": 0.5, "threshold_onet": 0.5},
}


class MTCNNDetector:
    """The `mtcnn` package's detector behind `measure`'s interface (`process(photo)` -> objects
    with a `box`)."""

    def __init__(self, model, **thresholds):
        self.model, self.thresholds = model, thresholds

    def process(self, photo):
        import types

        faces = self.model.detect_faces(np.ascontiguousarray(photo), **self.thresholds)
        return [types.SimpleNamespace(box=tuple(face["box"]), score=face["confidence"]) for face in faces]


def mtcnn_detectors():
    """`{name: MTCNNDetector}` for `MTCNN_SETTINGS`; a clear error without the package."""
    try:
        from mtcnn import MTCNN
    except ImportError as error:
        raise SystemExit(f"--mtcnn needs the `mtcnn` package (pip install mtcnn): {error}") from error
    model = MTCNN(device="CPU:0")
    return {name: MTCNNDetector(model, **settings) for name, settings in MTCNN_SETTINGS.items()}


class FerPackage:
    """The `fer` pip package (`fer.fer.FER(mtcnn=False)`, the peer every fer_zoo benchmark compares
    with) behind the Recognizer's `predict(photo).faces[i].box / .label` interface."""

    def __init__(self):
        from fer.fer import FER

        self.detector = FER(mtcnn=False)

    def predict(self, photo):
        import types

        import cv2

        faces = self.detector.detect_emotions(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
        return types.SimpleNamespace(faces=[
            types.SimpleNamespace(box=tuple(int(v) for v in face["box"]),
                                  label=max(face["emotions"], key=face["emotions"].get)) for face in faces])


def measure_kdef(recognizer, kdef_root, photos_per_pose=12, faces=3, seed=0, masks=None, identities=None,
                 poses=None, mixed=None):
    """Per KDEF pose: held-out people pasted on clutter, found / accuracy through `recognizer`.
    `masks` (a dict, filled here) keeps the person masks across calls: same seed, same photos.
    `identities` (KDEF identity indices; default: the held-out ones) and `poses` pick the people.
    `mixed` (poses, e.g. `("S", "FL", "FR")`): each photo holds one person of each of those poses
    instead (a frontal face beside profiles: the profile search then runs beside it), rows per pose."""
    from benchmarks.versus_fer import HELDOUT_IDENTITIES, kdef_pose_images
    from fer_zoo.data.adapters.kdef import KDEF_POSES, KDEF_YAWS
    from fer_zoo.data.faceset import EXPRESSIONS

    masks = {} if masks is None else masks
    identities = HELDOUT_IDENTITIES if identities is None else identities
    poses_measured = KDEF_POSES if poses is None else tuple(poses)
    images, labels, paths, pose_codes = kdef_pose_images(kdef_root, identities, poses_measured)
    def person(i):
        if paths[i] not in masks:
            masks[paths[i]] = segment_person(images[i])
        return images[i], masks[paths[i]]

    # The classifier's first calls with 1, 2, ... faces resize its interpreter: not timed.
    warm_up = [person(i) for i in range(faces)]
    for count in range(1, faces + 1):
        recognizer.predict(compose_people(warm_up[:count], np.random.default_rng(seed + 1))[0])
    rng = np.random.default_rng(seed)
    rows, examples = [], {}
    if mixed:
        return _measure_mixed(recognizer, rng, person, labels, pose_codes, photos_per_pose, mixed), examples
    for pose in poses_measured:
        candidates = rng.permutation(np.flatnonzero(pose_codes == pose))[:photos_per_pose * faces]
        if len(candidates) < photos_per_pose * faces:
            raise SystemExit(f"--kdef-root {kdef_root}: only {len(candidates)} {pose} photos of the identities, "
                             f"{photos_per_pose * faces} needed (--photos x --faces)")
        found = correct = false_positives = heads = 0
        seconds = []
        for index in range(photos_per_pose):
            chosen = candidates[index * faces:(index + 1) * faces]
            photo, result, label_of, wrong, took = _read_composite(recognizer, [person(i) for i in chosen], rng)
            false_positives += wrong
            seconds.append(took)
            found += len(label_of)
            correct += sum(label == EXPRESSIONS[labels[chosen[i]]] for i, label in label_of.items())
            heads += len(chosen)
            if index == 0:
                examples[int(KDEF_YAWS[pose])] = (photo, [face.box for face in result.faces])
        rows.append({"pose": pose, "yaw": int(KDEF_YAWS[pose]), "people": heads, "found": found,
                     "recall": found / heads, "accuracy": correct / heads, "false_positives": false_positives,
                     "ms_per_photo": 1e3 * float(np.mean(seconds))})
    return rows, examples


def _read_composite(recognizer, people, rng):
    """Pastes `people` on clutter (`compose_people`) and reads the photo with `recognizer`:
    `(photo, result, label_of, false_positives, seconds)`, `label_of` the first label read on each
    person (by index in `people`), a face on no person a false positive."""
    photo, boxes = compose_people(people, rng)
    started = time.perf_counter()
    result = recognizer.predict(photo)
    seconds = time.perf_counter() - started
    label_of, false_positives = {}, 0
    for face in result.faces:
        head = head_at(face.box, boxes)
        if head is None:
            false_positives += 1
        else:
            label_of.setdefault(head, face.label)
    return photo, result, label_of, false_positives, seconds


def _measure_mixed(recognizer, rng, person, labels, pose_codes, photos, mixed):
    """`measure_kdef(mixed=...)`: per photo one person of each pose of `mixed`, side by side in a
    random order; per pose found / accuracy / false positives (counted once per photo, on the first
    pose's row)."""
    from fer_zoo.data.faceset import EXPRESSIONS

    pools = {pose: list(rng.permutation(np.flatnonzero(pose_codes == pose))) for pose in mixed}
    counts = {pose: {"found": 0, "correct": 0, "people": 0} for pose in mixed}
    false_positives, seconds = 0, []
    for _ in range(photos):
        chosen = [(pose, pools[pose].pop()) for pose in rng.permutation(list(mixed))]
        _, _, label_of, wrong, took = _read_composite(recognizer, [person(i) for _, i in chosen], rng)
        false_positives += wrong
        seconds.append(took)
        for slot, (pose, index) in enumerate(chosen):
            counts[pose]["people"] += 1
            counts[pose]["found"] += slot in label_of
            counts[pose]["correct"] += label_of.get(slot) == EXPRESSIONS[labels[index]]
    return [{"pose": pose, "people": c["people"], "found": c["found"], "recall": c["found"] / c["people"],
             "accuracy": c["correct"] / c["people"], "false_positives": false_positives if pose == mixed[0] else 0,
             "ms_per_photo": 1e3 * float(np.mean(seconds))} for pose, c in counts.items()]


def example_sheet(examples, path):
    import cv2

    tiles = []
    for yaw, (photo, boxes) in examples.items():
        tile = photo.copy()
        for x, y, w, h in boxes:
            cv2.rectangle(tile, (int(x), int(y)), (int(x + w), int(y + h)), (255, 255, 0), 2)
        cv2.putText(tile, f"yaw {yaw:+d}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        tiles.append(cv2.resize(tile, (320, 180), interpolation=cv2.INTER_AREA))
    while len(tiles) % 3:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.concatenate([np.concatenate(tiles[i:i + 3], 1) for i in range(0, len(tiles), 3)], 0)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="fer-general", help="whose Recognizer detector to use")
    parser.add_argument("--photos", type=int, default=12, help="photos per yaw")
    parser.add_argument("--faces", type=int, default=3, help="heads per photo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mtcnn", action="store_true", help="also measure the `mtcnn` package's detector")
    parser.add_argument("--profile-face-px", type=int, default=None,
                        help="also measure the preset's detector with this FacePreprocessor profile_face_px")
    parser.add_argument("--without-verifier", action="store_true",
                        help="also measure the preset's detector with FacePreprocessor verify_profiles=False")
    parser.add_argument("--mixed", action="store_true",
                        help="with --kdef-root: also photos of one frontal (S) beside one FL and one FR person")
    parser.add_argument("--with-fer", action="store_true",
                        help="with --kdef-root: also the `fer` package (pip install --no-deps fer) on the same photos")
    parser.add_argument("--kdef-root", default=None,
                        help="KDEF folder: also measure held-out KDEF people pasted on clutter (per pose)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from fer_zoo.data.preprocessing import FacePreprocessor
    from fer_zoo.zoo.recognizer import Recognizer

    detector = Recognizer(args.preset).detector
    others = mtcnn_detectors() if args.mtcnn else {}
    variants = {}  # name -> FacePreprocessor options changed from the preset's detector
    if args.profile_face_px:
        variants[f"profile_face_px={args.profile_face_px}"] = {"profile_face_px": args.profile_face_px}
    if args.without_verifier:
        variants["verify_profiles=False"] = {"verify_profiles": False}
    for name, options in variants.items():
        others[f"fer_zoo, {name}"] = FacePreprocessor(**{**detector.get_config(), **options})
    warm_up = clutter(np.random.default_rng(999))  # first calls build graphs / load cascades: not timed
    for each in (detector, *others.values()):
        each.process(warm_up)
    rows, examples = measure(detector, args.photos, args.faces, args.seed)
    # Same seed, so the same photos, for every other detector.
    compared = {name: measure(other, args.photos, args.faces, args.seed)[0] for name, other in others.items()}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables = []
    for name, results in {f"fer_zoo ({args.preset})": rows, **compared}.items():
        tables.append(f"**{name}**\n\n" + markdown_table(
            ["yaw", "heads", "found", "recall", "false positives", "ms / photo"],
            [[f"{r['yaw']:+d}", r["heads"], r["found"], fmt(100 * r["recall"]) + " %", r["false_positives"],
              fmt(r["ms_per_photo"])] for r in results]))
    table = "\n\n".join(tables)
    (out / "profiles.md").write_text(table + "\n")
    (out / "profiles.json").write_text(json.dumps({"machine": machine_info(), "args": vars(args),
                                                   "detector": detector.get_config(), "results": rows,
                                                   "compared": compared}, indent=2))
    example_sheet(examples, out / "profiles_example.png")
    print(table)
    if args.kdef_root:
        recognizers = {f"fer_zoo ({args.preset})": Recognizer(args.preset)}
        for name in variants:
            recognizers[f"fer_zoo ({args.preset}), {name}"] = Recognizer(args.preset, detector=others[f"fer_zoo, {name}"])
        if args.with_fer:
            recognizers["fer.FER(mtcnn=False)"] = FerPackage()
        kdef_tables, kdef_results, masks = [], {}, {}
        for index, (name, recognizer) in enumerate(recognizers.items()):
            kdef_rows, examples = measure_kdef(recognizer, args.kdef_root, args.photos, args.faces, args.seed,
                                              masks)
            if args.mixed:
                kdef_rows += [{**row, "pose": f"{row['pose']} beside others"} for row in measure_kdef(
                    recognizer, args.kdef_root, args.photos, args.faces, args.seed, masks, mixed=("S", "FL", "FR"))[0]]
            kdef_results[name] = kdef_rows
            if index == 0:
                kdef_examples = examples
            kdef_tables.append(f"**{name}, held-out KDEF people on clutter**\n\n" + markdown_table(
                ["pose", "people", "found", "recall", "accuracy", "false positives", "ms / photo"],
                [[r["pose"], r["people"], r["found"], fmt(100 * r["recall"]) + " %",
                  fmt(100 * r["accuracy"]) + " %", r["false_positives"], fmt(r["ms_per_photo"])]
                 for r in kdef_rows]))
        kdef_table = "\n\n".join(kdef_tables)
        (out / "kdef_clutter.md").write_text(kdef_table + "\n")
        (out / "kdef_clutter.json").write_text(json.dumps({"machine": machine_info(), "args": vars(args),
                                                           "results": kdef_results}, indent=2))
        example_sheet(kdef_examples, out / "kdef_clutter_example.png")
        print("\n" + kdef_table)


if __name__ == "__main__":
    main()
