"""Generic adapters for your own data: class folders, or a csv of paths and labels.

Class folders:

    <root>/<class>/*.png|jpg|...                 (split -1)
    <root>/<split>/<class>/*.png|jpg|...         (split folders train/val/test, see SPLIT_NAMES)

`<class>` is an expression name or alias (angry/anger, disgust, fear, happy/happiness, neutral,
sad/sadness, surprise; contempt dropped unless `contempt="keep"`).

CSV: a header row with a path column (`path`, `file`, `filename` or `image`; relative paths are
relative to the csv's folder) and an `expression` column (a name/alias or an index into
EXPRESSIONS); any other numeric columns named like the data contract's labels (identity, yaw,
pitch, session, illumination, intensity, split, ...) are carried over. An `identity` column may
hold strings: they are mapped to integers in sorted order.

`cropped=True` (default) treats the images as face crops (only resize); `cropped=False` detects
and aligns faces with `FacePreprocessor`.
"""

import csv
import pathlib

import numpy as np

from fer_zoo.data.adapters import common
from fer_zoo.data.faceset import FLOAT_LABELS, INT_LABELS

FOLDER_LAYOUT = __doc__.split("CSV:")[0].split("Class folders:")[1]
CSV_LAYOUT = __doc__.split("`cropped=True`")[0].split("CSV:")[1]
SPLIT_NAMES = {
    "train": 0,
    "training": 0,
    "val": 1,
    "valid": 1,
    "validation": 1,
    "publictest": 1,
    "test": 2,
    "privatetest": 2,
}
PATH_COLUMNS = ("path", "file", "filename", "image", "image_path")


def load_folder(
    root,
    image_size=64,
    channels=1,
    cropped=True,
    contempt="drop",
    cache_dir=None,
    skip_bad=False,
    name=None,
):
    """Loads `<root>/<class>/*` or `<root>/<split>/<class>/*` as a `FaceSet`."""
    root = common.require_root(root, "folder", FOLDER_LAYOUT)
    if not root.is_dir():
        raise common.LayoutError(
            f"folder: {root} is not a directory. Expected layout:\n{FOLDER_LAYOUT}"
        )
    class_names = common.class_names_for(contempt)
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    if subdirs and all(p.name.lower() in SPLIT_NAMES for p in subdirs):
        groups = [(SPLIT_NAMES[p.name.lower()], p) for p in subdirs]
    else:
        groups = [(-1, root)]
    paths, expressions, splits = [], [], []
    for split, folder in groups:
        for expression, path in common.class_folder_images(
            folder, class_names, "folder", FOLDER_LAYOUT
        ):
            paths.append(path)
            expressions.append(expression)
            splits.append(split)
    if not paths:
        raise common.empty_error("folder", root, FOLDER_LAYOUT)
    labels = common.as_label_arrays({"expression": expressions, "split": splits}, len(paths))
    return common.faces_from_files(
        name or root.name,
        paths,
        labels,
        image_size=image_size,
        channels=channels,
        class_names=class_names,
        cropped=cropped,
        cache_dir=cache_dir,
        skip_bad=skip_bad,
    )


def load_csv(
    path,
    image_size=64,
    channels=1,
    cropped=True,
    contempt="drop",
    cache_dir=None,
    skip_bad=False,
    name=None,
):
    """Loads images listed in a csv (see the module docstring) as a `FaceSet`."""
    path = common.require_root(path, "csv", CSV_LAYOUT)
    if not path.is_file():
        raise common.LayoutError(f"csv: {path} is not a file. Expected:\n{CSV_LAYOUT}")
    class_names = common.class_names_for(contempt)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0].keys()) if rows else []
    path_column = next((c for c in columns if c.strip().lower() in PATH_COLUMNS), None)
    if path_column is None or "expression" not in columns:
        raise common.LayoutError(
            f"csv: {path} has columns {columns}; need a path column {PATH_COLUMNS} and 'expression'."
        )
    paths, values = [], {}
    extra = [c for c in columns if c in INT_LABELS + FLOAT_LABELS and c != "expression"]
    keep_rows = []
    for line, row in enumerate(rows, start=2):
        raw = row["expression"].strip()
        try:
            expression = (
                int(raw) if raw.lstrip("-").isdigit() else common.expression_index(raw, class_names)
            )
        except ValueError as error:
            raise ValueError(f"csv: {path} line {line}: bad expression {raw!r}") from error
        if raw.lstrip("-").isdigit() and not -1 <= expression < len(class_names):
            raise ValueError(
                f"csv: {path} line {line}: expression index {expression} out of range 0..{len(class_names) - 1}"
            )
        if expression < 0 and not raw.lstrip("-").isdigit():
            continue
        image = pathlib.Path(row[path_column].strip())
        paths.append(image if image.is_absolute() else path.parent / image)
        values.setdefault("expression", []).append(expression)
        keep_rows.append(row)
    if not paths:
        raise common.empty_error("csv", path, CSV_LAYOUT)
    for column in extra:
        raw = [r[column].strip() for r in keep_rows]
        if column == "identity" and not all(v.lstrip("-").isdigit() for v in raw):
            codes = sorted(set(raw))
            values[column] = [codes.index(v) for v in raw]
        elif column in INT_LABELS:
            values[column] = [int(float(v)) if v else -1 for v in raw]
        else:
            values[column] = np.asarray([float(v) if v else np.nan for v in raw], np.float32)
    labels = common.as_label_arrays(values, len(paths))
    return common.faces_from_files(
        name or path.stem,
        paths,
        labels,
        image_size=image_size,
        channels=channels,
        class_names=class_names,
        cropped=cropped,
        cache_dir=cache_dir,
        skip_bad=skip_bad,
    )
