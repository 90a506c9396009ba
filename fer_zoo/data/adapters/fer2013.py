"""FER2013 (Goodfellow et al., ICML 2013 challenge): 35,887 grey 48x48 faces, 7 expressions.

Two releases are understood:

* the original CSV, `<root>/fer2013.csv` (or the csv path itself), columns
  `emotion,pixels,Usage` (`emotion` 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
  6 neutral; `pixels` 2304 space-separated grey values; `Usage` Training | PublicTest |
  PrivateTest); an `icml_face_data.csv` with columns `emotion, Usage, pixels` works too;
* the class-folder release, `<root>/<split>/<class>/*.jpg|png` where `<split>` is one of
  `train`/`training`, `publictest`/`val`/`validation`, `privatetest`, or `test` (the 7,178-image
  Kaggle folder release merges PublicTest and PrivateTest), and `<class>` an expression name
  (angry, disgust, fear, happy, neutral, sad, surprise; aliases such as "anger" accepted).

Labels: `expression` (index into EXPRESSIONS) and `split` (see `SPLITS`: 0 Training,
1 PublicTest, 2 PrivateTest, 3 merged test). Faces are already cropped: they are only resized.
"""

import csv

import numpy as np

from fer_zoo.data import preprocessing
from fer_zoo.data.adapters import common
from fer_zoo.data.faceset import EXPRESSIONS

LAYOUT = __doc__.split("Labels:")[0].split("are understood:")[1]

SPLITS = ("Training", "PublicTest", "PrivateTest", "test")
SPLIT_FOLDERS = {
    "train": 0,
    "training": 0,
    "publictest": 1,
    "public_test": 1,
    "val": 1,
    "valid": 1,
    "validation": 1,
    "privatetest": 2,
    "private_test": 2,
    "test": 3,
}
# FER2013 csv emotion codes -> names.
CSV_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def split_index(name):
    """`"Training"` / `"train"` / 0 -> split integer (see `SPLITS`)."""
    if isinstance(name, (int, np.integer)):
        if not 0 <= int(name) < len(SPLITS):
            raise ValueError(f"FER2013 split index must be in 0..{len(SPLITS) - 1}, got {name}.")
        return int(name)
    key = str(name).strip().lower().replace("-", "_")
    if key in SPLIT_FOLDERS:
        return SPLIT_FOLDERS[key]
    for i, split in enumerate(SPLITS):
        if key == split.lower():
            return i
    raise ValueError(
        f"Unknown FER2013 split {name!r}; use one of {SPLITS} or folder names {sorted(SPLIT_FOLDERS)}."
    )


def _load_csv(path, image_size, channels, splits):
    images, expressions, split_values = [], [], []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in (reader.fieldnames or [])]
        if not {"emotion", "pixels"} <= set(fields):
            raise common.LayoutError(
                f"FER2013: {path} has columns {fields}; expected emotion,pixels,Usage."
            )
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): v for k, v in row.items() if k}
            split = split_index(row["Usage"]) if row.get("Usage") else -1
            if splits is not None and split not in splits:
                continue
            pixels = np.array(row["pixels"].split(), dtype=np.float32)
            if pixels.size != 48 * 48:
                raise ValueError(
                    f"FER2013: {path} line {line}: {pixels.size} pixels, expected 2304."
                )
            images.append(pixels.reshape(48, 48).astype(np.uint8))
            expressions.append(EXPRESSIONS.index(CSV_EMOTIONS[int(row["emotion"])]))
            split_values.append(split)
    if not images:
        raise common.empty_error("FER2013", path, LAYOUT, "no rows for the requested splits")
    n = len(images)
    labels = common.as_label_arrays({"expression": expressions, "split": split_values}, n)
    return common.faces_from_arrays(
        "fer2013", np.stack(images), labels, image_size=image_size, channels=channels
    )


def load_fer2013(root, image_size=48, channels=1, splits=None, cache_dir=None, skip_bad=False):
    """Loads FER2013 from the csv or the class-folder release (see the module docstring).

    Args:
        root: the csv file, a folder containing `fer2013.csv`, or the class-folder root.
        image_size, channels: output size (48 is native) and channels (1 grey, 3 replicated).
        splits: optional split names/indices to load (e.g. `["Training"]`); default all.
        cache_dir: cache for the class-folder release's decoded images.
        skip_bad: skip unreadable image files instead of raising.
    """
    root = common.require_root(root, "FER2013", LAYOUT)
    wanted = (
        None
        if splits is None
        else {split_index(s) for s in ([splits] if isinstance(splits, (str, int)) else splits)}
    )
    csv_path = (
        root
        if root.is_file()
        else next(
            (
                root / name
                for name in ("fer2013.csv", "icml_face_data.csv")
                if (root / name).is_file()
            ),
            None,
        )
    )
    if csv_path is not None:
        return _load_csv(csv_path, image_size, channels, wanted)
    paths, expressions, split_values, ignored = [], [], [], []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        key = split_dir.name.lower()
        if key not in SPLIT_FOLDERS:
            ignored.append(split_dir.name)
            continue
        split = SPLIT_FOLDERS[key]
        if wanted is not None and split not in wanted:
            continue
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            index = common.expression_index(class_dir.name)
            for path in common.list_images(class_dir):
                paths.append(path)
                expressions.append(index)
                split_values.append(split)
    if not paths:
        detail = f"sub-folders {ignored} are not split names" if ignored else ""
        raise common.empty_error("FER2013", root, LAYOUT, detail)
    labels = common.as_label_arrays({"expression": expressions, "split": split_values}, len(paths))
    pre = preprocessing.FacePreprocessor(size=image_size, channels=channels, assume_cropped=True)
    return common.faces_from_files(
        "fer2013",
        paths,
        labels,
        image_size=image_size,
        channels=channels,
        preprocessor=pre,
        cache_dir=cache_dir,
        skip_bad=skip_bad,
    )
