"""AffectNet (Mollahosseini et al. 2017), manually annotated part.

Expected layout:

    <root>/training.csv, <root>/validation.csv   columns subDirectory_filePath, face_x, face_y,
        face_width, face_height, facial_landmarks, expression, valence, arousal
        (expression: 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger,
        7 contempt, 8 none, 9 uncertain, 10 no-face)
    <root>/Manually_Annotated_Images/<subDirectory_filePath>   (e.g. 689/737db2483489148d7.jpg)

Codes 8-10 are always dropped; contempt (7) is dropped unless `contempt="keep"`. Faces are cropped
with the csv's face box (plus `margin`) when it is present, else detected.
Labels: expression, split (training 0, validation 1), valence, arousal.
"""

import csv

import numpy as np

from fer_zoo.data import preprocessing
from fer_zoo.data.adapters import common
from fer_zoo.data.faceset import FaceSet

LAYOUT = __doc__.split("Codes 8-10")[0].split("Expected layout:")[1]
AFFECTNET_EXPRESSIONS = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "angry",
    "contempt",
)
CSV_FILES = {"training.csv": 0, "validation.csv": 1}


def load_affectnet(
    root,
    image_size=64,
    channels=1,
    contempt="drop",
    margin=0.1,
    splits=None,
    limit=None,
    skip_bad=False,
):
    """Loads AffectNet's manually annotated images as a `FaceSet` named "affectnet".

    Args:
        splits: subset of `("training", "validation")`; default both.
        limit: at most this many rows per csv (AffectNet is large; handy for trials).
        margin: fraction of the csv face box added on each side.
    """
    root = common.require_root(root, "AffectNet", LAYOUT)
    class_names = common.class_names_for(contempt)
    image_dir = root / "Manually_Annotated_Images"
    csvs = [
        (root / name, split)
        for name, split in CSV_FILES.items()
        if (root / name).is_file() and (splits is None or name.split(".")[0] in splits)
    ]
    if not csvs:
        raise common.LayoutError(
            f"AffectNet: no training.csv / validation.csv in {root}. Expected layout:\n{LAYOUT}"
        )
    images, paths, expressions, split_values, valence, arousal, bad = [], [], [], [], [], [], []
    pre = preprocessing.FacePreprocessor(
        size=image_size, channels=channels, detectors=preprocessing.DETECTORS
    )
    for csv_path, split in csvs:
        with open(csv_path, newline="") as f:
            for count, row in enumerate(csv.DictReader(f)):
                if limit is not None and count >= limit:
                    break
                code = int(row["expression"])
                if code >= len(AFFECTNET_EXPRESSIONS):
                    continue
                expression = common.expression_index(AFFECTNET_EXPRESSIONS[code], class_names)
                if expression < 0:
                    continue
                path = image_dir / row["subDirectory_filePath"]
                rgb = preprocessing.read_image_or_skip(path, skip_bad, bad, key=str(path))
                if rgb is None:
                    continue
                if row.get("face_width"):
                    box = tuple(
                        int(float(row[k]))
                        for k in ("face_x", "face_y", "face_width", "face_height")
                    )
                    face = pre._warp(
                        rgb, preprocessing._box_transform(box, margin), image_size, channels
                    )
                else:
                    result = pre.first(rgb)
                    face = result.face
                images.append(face)
                paths.append(str(path))
                expressions.append(expression)
                split_values.append(split)
                valence.append(float(row.get("valence") or np.nan))
                arousal.append(float(row.get("arousal") or np.nan))
    if not images:
        raise common.empty_error("AffectNet", root, LAYOUT)
    labels = common.as_label_arrays(
        {
            "expression": expressions,
            "split": split_values,
            "valence": np.asarray(valence, np.float32),
            "arousal": np.asarray(arousal, np.float32),
        },
        len(images),
    )
    faceset = FaceSet(
        np.stack(images), labels, class_names, "affectnet", np.asarray(paths, dtype=str)
    )
    faceset.report = {"bad": bad, "missing": [], "methods": {"csv_box": len(images)}}
    return faceset
