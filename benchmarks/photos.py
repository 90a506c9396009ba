"""Speed and accuracy of a preset and of the `fer` package on the same real photographs.

The photos come from a `FaceSet` cache that records each face's source file (the KDEF adapter
does): typically the identities a preset was *not* trained on, so that its accuracy through the
whole deployed pipeline (Haar detection + eye alignment + classification, not the curated
training crops) can be read beside `fer`'s on exactly the same images.

```bash
python -m benchmarks.photos --faceset /tmp/fer_data/kdef_faces_64_grey.npz \
    --identities 2 4 8 10 16 20 27 34 42 51 52 57 --yaws -45 0 45 \
    --preset gasca2 --weights /tmp/fer_runs/gasca2/fa_l2/classifier.weights.h5 --out DIR
```

Writes `DIR/photos.json` and `DIR/photos.md`. Both pipelines see the same decoded RGB arrays,
one photo per call, alternating ours / fer per round so machine load hits both alike.
"""

import argparse
import json
import pathlib
import statistics
import time

import numpy as np

from benchmarks.common import fmt, machine_info, markdown_table


def load_photos(faceset_path, identities=None, yaws=None, limit=None):
    """`(rgb photos, expression labels, yaws, paths)` of a FaceSet's source files."""
    import cv2

    from fer_zoo.data.faceset import FaceSet

    faces = FaceSet.load(faceset_path)
    if faces.paths is None:
        raise ValueError(f"--faceset {faceset_path}: this FaceSet records no source paths.")
    keep = np.ones(len(faces.paths), bool)
    if identities:
        keep &= np.isin(faces.labels["identity"], list(identities))
    if yaws:
        keep &= np.isin(np.round(faces.labels["yaw"]), list(yaws))
    index = np.flatnonzero(keep)[:limit]
    photos = []
    for i in index:
        image = cv2.imread(str(faces.paths[i]), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"--faceset {faceset_path}: cannot read source photo {faces.paths[i]}")
        photos.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return (photos, faces.labels["expression"][index], faces.labels["yaw"][index],
            [str(faces.paths[i]) for i in index])


def _largest(faces, area):
    return max(faces, key=area) if faces else None


def run(photos, labels, yaws, preset="gasca2", weights="default", rounds=2):
    import cv2

    import fer_zoo
    from fer_zoo.data.faceset import EXPRESSIONS

    recognizer = fer_zoo.Recognizer(fer_zoo.load(preset, weights=weights))
    recognizer.predict(photos[0])
    from fer.fer import FER

    fer_detector = FER(mtcnn=False)
    bgr = [cv2.cvtColor(p, cv2.COLOR_RGB2BGR) for p in photos]
    fer_detector.detect_emotions(bgr[0])
    times = {"fer_zoo": [], "fer": []}
    ours, theirs = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        ours = [recognizer.predict(p) for p in photos]
        times["fer_zoo"].append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs = [fer_detector.detect_emotions(b) for b in bgr]
        times["fer"].append(time.perf_counter() - start)
    ours_pred = []
    for result in ours:
        face = _largest(result.faces, lambda f: f.box[2] * f.box[3])
        ours_pred.append(face.label if face else None)
    theirs_pred = []
    for found in theirs:
        face = _largest(found, lambda f: f["box"][2] * f["box"][3])
        theirs_pred.append(max(face["emotions"], key=face["emotions"].get) if face else None)
    truth = [EXPRESSIONS[y] for y in labels]

    def summary(name, predicted, faces_found, seconds):
        correct = np.array([p == t for p, t in zip(predicted, truth)])
        found = np.array([p is not None for p in predicted])
        median = statistics.median(seconds)
        per_yaw = {f"{y:g}": float(correct[np.round(yaws) == y].mean()) for y in sorted(set(np.round(yaws)))}
        return {
            "pipeline": name, "photos": len(photos), "photos_with_face": int(found.sum()),
            "faces_found": int(faces_found), "ms_per_photo": median / len(photos) * 1e3,
            "ms_per_face": median / max(int(faces_found), 1) * 1e3,
            "accuracy": float(correct.mean()),
            "accuracy_where_found": float(correct[found].mean()) if found.any() else None,
            "accuracy_per_yaw": per_yaw,
        }

    return [
        summary(f"fer_zoo.Recognizer({preset!r})", ours_pred, sum(len(r.faces) for r in ours), times["fer_zoo"]),
        summary("fer.FER(mtcnn=False)", theirs_pred, sum(len(f) for f in theirs), times["fer"]),
    ]


def markdown(rows):
    yaws = sorted({y for r in rows for y in r["accuracy_per_yaw"]}, key=float)
    headers = ["pipeline", "ms / photo", "ms / face found", "photos with a face", "accuracy (miss = wrong)",
               "accuracy where a face was found"] + [f"accuracy yaw {y}" for y in yaws]
    table = [[r["pipeline"], fmt(r["ms_per_photo"]), fmt(r["ms_per_face"]),
              f"{r['photos_with_face']}/{r['photos']}", fmt(100 * r["accuracy"]) + " %",
              fmt(100 * r["accuracy_where_found"]) + " %" if r["accuracy_where_found"] is not None else "-"]
             + [fmt(100 * r["accuracy_per_yaw"][y]) + " %" for y in yaws] for r in rows]
    return markdown_table(headers, table)


def main(argv=None):
    parser = argparse.ArgumentParser(description="A preset vs the `fer` package on the same photographs.")
    parser.add_argument("--faceset", required=True, help="FaceSet .npz whose paths are the source photos")
    parser.add_argument("--identities", type=int, nargs="*", default=None)
    parser.add_argument("--yaws", type=float, nargs="*", default=None)
    parser.add_argument("--preset", default="gasca2")
    parser.add_argument("--weights", default="default", help="preset name, path or URL (fer_zoo.load)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    photos, labels, yaws, paths = load_photos(args.faceset, args.identities, args.yaws, args.limit)
    if not photos:
        raise SystemExit(f"--faceset {args.faceset}: no photos match the identities / yaws given.")
    rows = run(photos, labels, yaws, args.preset, args.weights, args.rounds)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"machine": machine_info(), "args": vars(args), "results": rows}
    (out / "photos.json").write_text(json.dumps(record, indent=2))
    (out / "photos.md").write_text(markdown(rows) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
