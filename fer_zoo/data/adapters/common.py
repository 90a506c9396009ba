"""Helpers shared by the data set adapters: label names, file listing, layout errors, face sets."""

import logging
import os
import pathlib

import numpy as np

from fer_zoo.data import preprocessing
from fer_zoo.data.faceset import EXPRESSIONS, FaceSet

logger = logging.getLogger("fer_zoo.data")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp")

# Synonyms found in the data sets' own label names -> EXPRESSIONS (or "contempt").
EXPRESSION_ALIASES = {
    "angry": "angry",
    "anger": "angry",
    "an": "angry",
    "ang": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "di": "disgust",
    "dis": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "af": "fear",
    "fe": "fear",
    "fea": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "ha": "happy",
    "hap": "happy",
    "neutral": "neutral",
    "ne": "neutral",
    "neu": "neutral",
    "calm": "neutral",
    "sad": "sad",
    "sadness": "sad",
    "sa": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "su": "surprise",
    "sur": "surprise",
    "contempt": "contempt",
    "co": "contempt",
}

CONTEMPT_OPTIONS = ("drop", "keep")


class LayoutError(ValueError):
    """The directory / file does not look like the data set's documented layout."""


def class_names_for(contempt):
    """Class names: `EXPRESSIONS`, plus `"contempt"` as class 7 when `contempt="keep"`."""
    if contempt not in CONTEMPT_OPTIONS:
        raise ValueError(f"contempt must be one of {CONTEMPT_OPTIONS}, got {contempt!r}.")
    return EXPRESSIONS + (("contempt",) if contempt == "keep" else ())


def expression_index(name, class_names=EXPRESSIONS):
    """Index of an expression name or alias in `class_names`; -1 if absent (e.g. dropped contempt).

    Raises `ValueError` for names that are not expressions at all.
    """
    key = str(name).strip().lower()
    if key not in EXPRESSION_ALIASES:
        raise ValueError(
            f"Unknown expression label {name!r}; known: {sorted(set(EXPRESSION_ALIASES.values()))}."
        )
    canonical = EXPRESSION_ALIASES[key]
    return class_names.index(canonical) if canonical in class_names else -1


def require_root(root, dataset, layout):
    """Checks that `root` exists; raises `FileNotFoundError` naming it and the expected layout."""
    root = pathlib.Path(os.path.expanduser(str(root)))
    if not root.exists():
        raise FileNotFoundError(f"{dataset}: path not found: {root}. Expected layout:\n{layout}")
    return root


def list_images(root, recursive=True):
    """Sorted image files under `root` (by extension, case-insensitive)."""
    root = pathlib.Path(root)
    pattern = root.rglob("*") if recursive else root.glob("*")
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def class_folder_images(folder, class_names, dataset, layout):
    """Yields `(expression index, image path)` from `folder/<class name>/*` in sorted order.

    Folders of dropped classes (index -1, e.g. contempt) are skipped; a folder that names no
    expression raises `LayoutError` showing the expected layout.
    """
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            expression = expression_index(class_dir.name, class_names)
        except ValueError as error:
            raise LayoutError(
                f"{dataset}: folder {class_dir} is not an expression name. Expected layout:\n{layout}"
            ) from error
        if expression < 0:
            continue
        for path in list_images(class_dir):
            yield expression, path


def empty_error(dataset, root, layout, detail=""):
    return LayoutError(
        f"{dataset}: no usable images found under {root}{' (' + detail + ')' if detail else ''}. "
        f"Expected layout:\n{layout}"
    )


def default_labels(n):
    """All label keys of the data contract filled with 'unknown' (-1 / NaN)."""
    labels = {
        key: np.full(n, -1, np.int64)
        for key in ("expression", "identity", "session", "illumination")
    }
    labels.update({key: np.full(n, np.nan, np.float32) for key in ("yaw", "pitch", "intensity")})
    return labels


def as_label_arrays(records, n):
    """Dict of per-image values -> dict of arrays, with the defaults for absent keys."""
    labels = default_labels(n)
    for key, values in records.items():
        values = np.asarray(values)
        if values.dtype.kind == "f":
            labels[key] = values.astype(np.float32)
        else:
            labels[key] = values.astype(np.int64)
    return labels


def faces_from_files(
    dataset,
    paths,
    labels,
    *,
    image_size,
    channels,
    class_names=EXPRESSIONS,
    preprocessor=None,
    cropped=False,
    cache_dir=None,
    skip_bad=False,
):
    """Reads + preprocesses image files into a `FaceSet` (labels subset to the images kept).

    Args:
        dataset: name for messages and `FaceSet.name`.
        paths: image files (one label row each).
        labels: dict of length-`len(paths)` arrays.
        image_size, channels: output face size and channel count.
        preprocessor: a `FacePreprocessor`; default: full detection with fallbacks
            (`frontal, profile, foreground, centre`) for photographs, or a pass-through resize
            when `cropped=True` (the set is already cropped and aligned).
        cache_dir: optional cache folder (see `preprocessing.preprocess_files`).
        skip_bad: skip unreadable files (reported in `faceset.report["bad"]`) instead of raising.

    Returns:
        `FaceSet` with an extra attribute `report` (dict: `bad`, `missing`, `methods` counts).
    """
    if preprocessor is None:
        preprocessor = preprocessing.FacePreprocessor(
            size=image_size,
            channels=channels,
            detectors=preprocessing.DETECTORS,
            assume_cropped=cropped,
        )
    result = preprocessing.preprocess_files(
        paths, preprocessor, skip_bad=skip_bad, cache_dir=cache_dir
    )
    keep = result["keep"]
    if len(keep) == 0:
        raise LayoutError(
            f"{dataset}: none of the {len(paths)} images could be read or contained a face."
        )
    kept_labels = {k: np.asarray(v)[keep] for k, v in labels.items()}
    faceset = FaceSet(
        result["images"],
        kept_labels,
        tuple(class_names),
        dataset,
        np.asarray(paths, dtype=str)[keep],
    )
    methods = {
        str(m): int(c)
        for m, c in zip(*np.unique(np.asarray(result["method"], dtype=str), return_counts=True))
    }
    faceset.report = {
        "bad": result["bad"],
        "missing": result["missing"],
        "methods": methods,
        "cached": result["cached"],
    }
    if result["bad"]:
        logger.warning(
            "%s: skipped %d unreadable files, e.g. %s",
            dataset,
            len(result["bad"]),
            result["bad"][0],
        )
    return faceset


def faces_from_arrays(
    dataset, images, labels, *, image_size, channels, class_names=EXPRESSIONS, paths=None
):
    """Already-cropped uint8/float images `(N, H, W[, C])` -> `FaceSet` at the requested size."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype == np.uint8 or images.max() > 1.5:
        images = images.astype(np.float32) / 127.5 - 1.0
    images = preprocessing.resize_faces(images.astype(np.float32), image_size)
    images = preprocessing.convert_channels(images, channels)
    faceset = FaceSet(images, labels, tuple(class_names), dataset, paths)
    faceset.report = {"bad": [], "missing": [], "methods": {"cropped": len(images)}}
    return faceset
