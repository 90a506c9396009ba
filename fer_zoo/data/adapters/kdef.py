"""KDEF / AKDEF: the Karolinska Directed Emotional Faces (5 poses, 7 expressions, 2 sessions).

Expected layout (any nesting; the original release has one folder per sitting, e.g.
`KDEF/AF01/AF01AFS.JPG`, a flat folder works too):

    <root>/**/<code>.JPG     code = [A|B][F|M][NN][EXPR][POSE]
        session  A | B            (-> session 0 | 1)
        gender   F | M            (-> label "gender" 0 | 1)
        NN       identity number  (identity int = index of "F01".."M35" in sorted order)
        EXPR     AF afraid, AN angry, DI disgusted, HA happy, NE neutral, SA sad, SU surprised
        POSE     FL full left (-90), HL half left (-45), S straight (0), HR half right (45),
                 FR full right (90)  (-> label "yaw" in degrees)
    <root>/labels.csv        optional; columns file,session,gender,identity,emotion,...; when
                             present only the files it lists are used (missing ones raise).

AKDEF (averaged faces) files carry no session/identity (`[F|M]?<EXPR><POSE>.JPG`): those parts
are optional in the file-name pattern and become -1.

Crops (`crop=`):
* `"studio"` (default): pose-consistent crops for KDEF's plain studio background. Every photo of
  a sitting (session + identity) is cropped at one side length: the median Haar frontal box of
  the sitting's frontal photos (mapped to the eye-aligned geometry). Frontal photos are
  eye-aligned (eyes level, at a fixed height) when a plausible eye pair is found, else placed by
  the box; the other poses sit at the same distance below the top of the head
  (background-subtraction silhouette), horizontally with the leading face edge just inside the
  crop. So all five poses of a person share scale and vertical position, which
  pose-normalisation targets need.
* `"detect"`: the generic `FacePreprocessor` (Haar frontal/profile, then fallbacks) per photo.

Labels: expression (index into EXPRESSIONS), identity, session, yaw, pitch (0), gender.
`report["methods"]` counts how each face was cropped (`eyes`, `frontal`, `studio`, `centre`).
"""

import collections
import csv
import json
import re

import numpy as np

from fer_zoo.data import preprocessing
from fer_zoo.data.adapters import common
from fer_zoo.data.faceset import EXPRESSIONS, FaceSet

LAYOUT = __doc__.split("Crops (")[0].split("Expected layout")[1]

KDEF_EXPRESSIONS = {
    "AF": "fear",
    "AN": "angry",
    "DI": "disgust",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
KDEF_YAWS = {"FL": -90.0, "HL": -45.0, "S": 0.0, "HR": 45.0, "FR": 90.0}
KDEF_POSES = tuple(KDEF_YAWS)

_CODE = re.compile(
    r"^(?P<session>[AB])?(?P<gender>[FM])?(?P<number>\d{2})?(?P<expr>AF|AN|DI|HA|NE|SA|SU)(?P<pose>FL|FR|HL|HR|S)?$",
    re.IGNORECASE,
)


def parse_kdef_name(name):
    """`"AF01ANFL.JPG"` -> dict(session, gender, identity_code, expression, pose) or None."""
    stem = name.rsplit(".", 1)[0]
    match = _CODE.match(stem)
    if match is None:
        return None
    parts = {k: (v.upper() if v else None) for k, v in match.groupdict().items()}
    identity = (
        f"{parts['gender']}{parts['number']}" if parts["gender"] and parts["number"] else None
    )
    return {
        "session": parts["session"],
        "gender": parts["gender"],
        "identity_code": identity,
        "expression": KDEF_EXPRESSIONS[parts["expr"]],
        "pose": parts["pose"] or "S",
    }


def scan_kdef(root, poses=None):
    """Lists KDEF files and parses their codes. Returns (paths, records, identity_codes)."""
    root = common.require_root(root, "KDEF", LAYOUT)
    poses = KDEF_POSES if poses is None else tuple(p.upper() for p in poses)
    unknown = [p for p in poses if p not in KDEF_YAWS]
    if unknown:
        raise ValueError(f"KDEF: unknown pose(s) {unknown}; choose from {KDEF_POSES}.")
    listed = None
    labels_csv = root / "labels.csv"
    if labels_csv.is_file():
        with open(labels_csv, newline="") as f:
            listed = [row["file"] for row in csv.DictReader(f) if row.get("file")]
    files = common.list_images(root)
    by_name = {p.name.upper(): p for p in files}
    if listed is not None:
        missing = [name for name in listed if name.upper() not in by_name]
        if missing:
            raise common.LayoutError(
                f"KDEF: {labels_csv} lists {len(missing)} files that are not under {root}, e.g. {missing[:3]}."
            )
        files = [by_name[name.upper()] for name in listed]
    paths, records = [], []
    for path in files:
        record = parse_kdef_name(path.name)
        if record is None or record["pose"] not in poses:
            continue
        paths.append(path)
        records.append(record)
    if not paths:
        raise common.empty_error(
            "KDEF", root, LAYOUT, f"{len(files)} image files, none named like AF01ANS.JPG"
        )
    identity_codes = sorted({r["identity_code"] for r in records if r["identity_code"]})
    return paths, records, identity_codes


def kdef_labels(records, identity_codes):
    index = {code: i for i, code in enumerate(identity_codes)}
    n = len(records)
    return common.as_label_arrays(
        {
            "expression": [EXPRESSIONS.index(r["expression"]) for r in records],
            "identity": [index.get(r["identity_code"], -1) for r in records],
            "session": [{"A": 0, "B": 1}.get(r["session"], -1) for r in records],
            "gender": [{"F": 0, "M": 1}.get(r["gender"], -1) for r in records],
            "yaw": np.asarray([KDEF_YAWS[r["pose"]] for r in records], np.float32),
            "pitch": np.zeros(n, np.float32),
        },
        n,
    )


# Plausible eye distance / Haar frontal box width (KDEF: 5-95% range 0.32-0.40, median 0.365);
# outside this the eye cascade has latched onto brows or nostrils.
EYE_BOX_RATIO = (0.30, 0.43)


def _similarity(point, angle, side, target):
    """Affine map (rotation by -angle, scale 1/side) sending `point` to `target` of the unit square."""
    cos, sin = np.cos(-angle) / side, np.sin(-angle) / side
    px, py = point
    return np.array(
        [
            [cos, -sin, target[0] - (cos * px - sin * py)],
            [sin, cos, target[1] - (sin * px + cos * py)],
        ]
    )


def studio_transforms(paths, records, progress=None, skip_bad=False):
    """Pose-consistent crop transforms for KDEF photos (see the module docstring).

    Frontal (S) photos: crop side = the sitting's (session + identity) median Haar frontal box
    width, scaled to the eye-aligned geometry; rotated and positioned by the eyes when a
    plausible pair is found (`EYE_BOX_RATIO`; eyes level at the preprocessor's `eye_y`), else by
    the box (with the aligned crops' median offset). Every other photo of the sitting is cropped
    at the same side, the same distance below the top of the head (silhouette) and horizontally
    by `studio_head_box`.

    Returns `(transforms (N, 2, 3) or None rows, methods, bad)`: `methods[i]` is `"eyes"`
    (eye-aligned frontal), `"frontal"` (frontal box), `"studio"` (silhouette crop at the person's
    frontal scale) or `"centre"` (no silhouette found); `bad` lists `(path, error)` of unreadable
    files.
    """
    pre = preprocessing.FacePreprocessor(size=8, channels=1, detectors=("frontal",), align=True)
    n = len(paths)
    silhouettes, frontal, bad = [None] * n, [None] * n, []
    for i, path in enumerate(paths):
        rgb = preprocessing.read_image_or_skip(path, skip_bad, bad, key=str(path))
        if rgb is None:
            continue
        mask, top = preprocessing.head_silhouette(rgb)
        # Packed bits: the masks of a whole data set would otherwise take ~0.5 GB.
        silhouettes[i] = (None if mask is None else np.packbits(mask, axis=1), top, rgb.shape)
        if records[i]["pose"] == "S":
            result = pre.first(rgb)
            if result.found:
                frontal[i] = result
        if progress is not None:
            progress(i + 1, n)

    def crop_geometry(transform):
        inverse = np.linalg.inv(np.vstack([transform, [0, 0, 1]]))
        cx, cy = (inverse @ np.array([0.5, 0.5, 1.0]))[:2]
        return float(np.hypot(*inverse[:2, 0])), cx, cy

    # Scale: the Haar frontal box (consistent within a sitting, std ~2-4%), mapped to the
    # eye-aligned crop size; eye distances vary more between people (+-15%) and detections.
    # Rotation and position: the eyes when a plausible pair is found, else the box.
    aligned = {}
    for i, result in enumerate(frontal):
        if result is not None and result.aligned:
            ratio = np.hypot(*np.subtract(result.eyes[1], result.eyes[0])) / result.box[2]
            if EYE_BOX_RATIO[0] <= ratio <= EYE_BOX_RATIO[1]:
                aligned[i] = crop_geometry(result.transform)
    relative = []
    for i, (side, cx, cy) in aligned.items():
        x, y, w, h = frontal[i].box
        relative.append((side / w, (cx - x - w / 2) / w, (cy - y - h / 2) / w))
    box_side, box_dx, box_dy = (
        np.median(np.asarray(relative), axis=0) if relative else (1.0, 0.0, 0.0)
    )
    sitting_side = collections.defaultdict(list)
    for i, result in enumerate(frontal):
        if result is not None:
            sitting_side[(records[i]["session"], records[i]["identity_code"])].append(
                box_side * result.box[2]
            )
    sitting_side = {k: float(np.median(v)) for k, v in sitting_side.items()}

    transforms, methods = [None] * n, ["bad"] * n
    reference = collections.defaultdict(list)
    for i, result in enumerate(frontal):
        if result is None or silhouettes[i] is None or silhouettes[i][1] is None:
            continue
        top = silhouettes[i][1]
        sitting = (records[i]["session"], records[i]["identity_code"])
        side = sitting_side[sitting]
        if i in aligned:
            (lx, ly), (rx, ry) = result.eyes
            angle = float(np.arctan2(ry - ly, rx - lx))
            transform = _similarity(((lx + rx) / 2, (ly + ry) / 2), angle, side, (0.5, pre.eye_y))
            methods[i] = "eyes"
        else:
            x, y, w, h = result.box
            centre = (x + w / 2 + box_dx * w, y + h / 2 + box_dy * w)
            transform = _similarity(centre, 0.0, side, (0.5, 0.5))
            methods[i] = "frontal"
        transforms[i] = transform
        _, _, cy = crop_geometry(transform)
        reference[sitting].append((side, cy - top))
    everyone = [r for refs in reference.values() for r in refs]
    global_ref = tuple(np.median(np.asarray(everyone), axis=0)) if everyone else None
    for i in range(n):
        if silhouettes[i] is None or transforms[i] is not None:
            continue
        packed, top, shape = silhouettes[i]
        refs = reference.get((records[i]["session"], records[i]["identity_code"]))
        ref = tuple(np.median(np.asarray(refs), axis=0)) if refs else global_ref
        if packed is None or ref is None:
            side = 0.6 * min(shape[:2])
            box = ((shape[1] - side) / 2, 0.45 * shape[0] - side / 2, side, side)
            methods[i] = "centre"
        else:
            mask = np.unpackbits(packed, axis=1, count=shape[1]).astype(bool)
            box = preprocessing.studio_head_box(
                mask, top, KDEF_YAWS[records[i]["pose"]], ref[0], ref[1]
            )
            methods[i] = "studio"
        transforms[i] = preprocessing._box_transform(box, 0.0)
    return transforms, methods, bad


def load_kdef(
    root,
    image_size=64,
    channels=1,
    poses=None,
    crop="studio",
    cache_dir=None,
    skip_bad=False,
    progress=None,
    sizes=None,
    preprocessor=None,
):
    """Loads KDEF (or AKDEF) as a `FaceSet`; see the module docstring for layout and crops.

    Args:
        root: the KDEF folder.
        image_size, channels: output faces (channels 1 grey, 3 RGB).
        poses: subset of `("FL", "HL", "S", "HR", "FR")`; default all.
        crop: `"studio"` (pose-consistent, default) or `"detect"` (generic detector).
        cache_dir: cache folder for preprocessed faces (keyed by files + settings).
        skip_bad: skip unreadable images (listed in `faceset.report["bad"]`) instead of raising.
        sizes: optional list of `(image_size, channels)`; if given, returns a dict
            `{(size, channels): FaceSet}` computed from one detection pass.
        preprocessor: with `crop="detect"`, the `FacePreprocessor` to crop with (default: full
            detection with fallbacks). Pass the one a deployed model uses (e.g. the Recognizer's
            for a preset) so that training crops match the crops it will see in photos.

    Returns:
        `FaceSet` named "kdef" with `report` (`methods`, `bad`, `identity_codes`).
    """
    paths, records, identity_codes = scan_kdef(root, poses)
    labels = kdef_labels(records, identity_codes)
    if crop == "detect":
        faceset = common.faces_from_files(
            "kdef",
            paths,
            labels,
            image_size=image_size,
            channels=channels,
            cache_dir=cache_dir,
            skip_bad=skip_bad,
            preprocessor=preprocessor,
        )
        faceset.report["identity_codes"] = identity_codes
        return faceset
    if preprocessor is not None:
        raise ValueError("KDEF: preprocessor= applies to crop='detect' only.")
    if crop != "studio":
        raise ValueError(f"KDEF: crop must be 'studio' or 'detect', got {crop!r}.")
    wanted = list(sizes) if sizes else [(image_size, channels)]
    cache_file = None
    if cache_dir is not None:
        key = preprocessing.cache_key([str(p) for p in paths], {"kdef_studio": 3, "wanted": wanted})
        cache_file = {
            w: common.pathlib.Path(cache_dir) / f"kdef-{key}-{w[0]}x{w[1]}.npz" for w in wanted
        }
        report_file = common.pathlib.Path(cache_dir) / f"kdef-{key}-report.json"
        if report_file.is_file() and all(f.is_file() for f in cache_file.values()):
            loaded = {w: FaceSet.load(f) for w, f in cache_file.items()}
            for fs in loaded.values():
                fs.report = {**json.loads(report_file.read_text()), "cached": True}
            return loaded if sizes else loaded[wanted[0]]
    transforms, methods, bad = studio_transforms(
        paths, records, progress=progress, skip_bad=skip_bad
    )
    keep = [i for i, t in enumerate(transforms) if t is not None]
    outputs = {w: [] for w in wanted}
    for i in keep:
        rgb = preprocessing.read_image(paths[i])
        for size, ch in wanted:
            outputs[(size, ch)].append(
                preprocessing.FacePreprocessor._warp(rgb, transforms[i], size, ch)
            )
    counts = collections.Counter(methods[i] for i in keep)
    result = {}
    for w in wanted:
        fs = FaceSet(
            np.stack(outputs[w]),
            {k: v[keep] for k, v in labels.items()},
            EXPRESSIONS,
            "kdef",
            np.asarray([str(p) for p in paths], dtype=str)[keep],
        )
        if cache_file is not None:
            fs.save(cache_file[w])
        fs.report = {
            "bad": bad,
            "missing": [],
            "methods": dict(counts),
            "identity_codes": identity_codes,
            "method_per_image": [methods[i] for i in keep],
            "cached": False,
        }
        result[w] = fs
    if cache_file is not None:
        # Written last: its presence marks a complete cache entry.
        report = {k: v for k, v in fs.report.items() if k != "cached"}
        report_file.write_text(json.dumps(report))
    return result if sizes else result[wanted[0]]
