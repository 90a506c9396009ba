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
`--profile-face-px 36` also measures the preset's detector with the finer profile search.
"""

import argparse
import json
import pathlib
import time

import numpy as np

from benchmarks.common import fmt, machine_info, markdown_table

YAWS = (-90, -75, -60, -45, -30, 0, 30, 45, 60, 75, 90)
HEAD_PX = 120


def clutter(rng, height=360, width=640):
    """A uint8 RGB background of random rectangles, lines and blobs over noise."""
    import cv2

    image = rng.integers(60, 200, 3).astype(np.float32) + rng.normal(0, 12, (height, width, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(25):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(image, (x, y), (x + int(rng.integers(10, 120)), y + int(rng.integers(10, 120))), colour, -1)
        elif kind == 1:
            cv2.line(image, (x, y), (int(rng.integers(0, width)), int(rng.integers(0, height))), colour,
                     int(rng.integers(1, 6)))
        else:
            cv2.circle(image, (x, y), int(rng.integers(5, 40)), colour, -1)
    return cv2.GaussianBlur(image, (3, 3), 0)


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
                cx, cy = result.box[0] + result.box[2] / 2, result.box[1] + result.box[3] / 2
                inside = [i for i, (x, y, w, h) in enumerate(boxes) if x <= cx <= x + w and y <= cy <= y + h]
                if inside:
                    hit[inside[0]] = True
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
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from fer_zoo.data.preprocessing import FacePreprocessor
    from fer_zoo.zoo.recognizer import Recognizer

    detector = Recognizer(args.preset).detector
    others = mtcnn_detectors() if args.mtcnn else {}
    if args.profile_face_px:
        others[f"fer_zoo, profile_face_px={args.profile_face_px}"] = FacePreprocessor(
            **{**detector.get_config(), "profile_face_px": args.profile_face_px})
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


if __name__ == "__main__":
    main()
