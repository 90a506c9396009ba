"""CK+ (Extended Cohn-Kanade, Lucey et al. 2010): posed expression sequences, neutral to peak.

Two layouts are understood:

* the original release:
    <root>/cohn-kanade-images/S005/001/S005_001_00000001.png   (frames of sequence 001)
    <root>/Emotion/S005/001/S005_001_00000011_emotion.txt     (one number: the sequence label)
  Emotion codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness,
  7 surprise. Only sequences with an Emotion file are used; the last `last_n` frames (the peak)
  get the sequence label and, with `first_as_neutral=True`, the first frame is added as neutral.
* the common 48x48 crops ("CK+48"): `<root>/<class>/S010_004_00000017.png` with classes such
  as anger, contempt, disgust, fear, happy, sadness, surprise (names/aliases as in EXPRESSIONS).

Contempt (CK+ has 18 sequences) is dropped by default (`contempt="drop"`); `contempt="keep"`
appends it as class 7 ("contempt") to `class_names`.

Labels: expression, identity (index of the subject id "S005" in sorted order), sequence (index
of "S005/001" in sorted order), frame (frame number), intensity (1.0 peak frames, 0.0 neutral
first frames).
"""

import re

import numpy as np

from fer_zoo.data.adapters import common

LAYOUT = __doc__.split("Contempt (")[0].split("are understood:")[1]
CK_EMOTIONS = ("neutral", "angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")
_FRAME = re.compile(r"(S\d+)_(\d+)_(\d+)", re.IGNORECASE)


def load_ckplus(
    root,
    image_size=64,
    channels=1,
    last_n=3,
    first_as_neutral=True,
    contempt="drop",
    cropped=None,
    cache_dir=None,
    skip_bad=False,
):
    """Loads CK+ (original sequences or 48x48 class-folder crops) as a `FaceSet`.

    Args:
        root: the CK+ folder (see the module docstring).
        last_n: peak frames taken from the end of each labelled sequence.
        first_as_neutral: also take each labelled sequence's first frame, labelled neutral.
        contempt: `"drop"` or `"keep"` (class 7).
        cropped: faces already cropped (only resize); default: True for the class-folder crops,
            False (detect + align) for the original photographs.
        cache_dir, skip_bad: see `common.faces_from_files`.
    """
    root = common.require_root(root, "CK+", LAYOUT)
    class_names = common.class_names_for(contempt)
    images_dir = root / "cohn-kanade-images"
    emotion_dir = root / "Emotion"
    if images_dir.is_dir() or emotion_dir.is_dir():
        if not (images_dir.is_dir() and emotion_dir.is_dir()):
            raise common.LayoutError(
                f"CK+: {root} needs both cohn-kanade-images/ and Emotion/. Expected layout:\n{LAYOUT}"
            )
        paths, records = _original(
            root, images_dir, emotion_dir, last_n, first_as_neutral, class_names
        )
        cropped = False if cropped is None else cropped
    else:
        paths, records = _class_folders(root, class_names)
        cropped = True if cropped is None else cropped
    if not paths:
        raise common.empty_error("CK+", root, LAYOUT)
    subjects = sorted({r[1] for r in records})
    sequences = sorted({r[2] for r in records})
    labels = common.as_label_arrays(
        {
            "expression": [r[0] for r in records],
            "identity": [subjects.index(r[1]) for r in records],
            "sequence": [sequences.index(r[2]) for r in records],
            "frame": [r[3] for r in records],
            "intensity": np.asarray([r[4] for r in records], np.float32),
        },
        len(paths),
    )
    faceset = common.faces_from_files(
        "ckplus",
        paths,
        labels,
        image_size=image_size,
        channels=channels,
        class_names=class_names,
        cropped=cropped,
        cache_dir=cache_dir,
        skip_bad=skip_bad,
    )
    faceset.report["identity_codes"] = subjects
    return faceset


def _original(root, images_dir, emotion_dir, last_n, first_as_neutral, class_names):
    paths, records = [], []
    label_files = sorted(emotion_dir.rglob("*_emotion.txt"))
    if not label_files:
        raise common.empty_error("CK+", root, LAYOUT, "no *_emotion.txt files under Emotion/")
    for label_file in label_files:
        try:
            code = int(float(label_file.read_text().split()[0]))
            name = CK_EMOTIONS[code]
        except (ValueError, IndexError) as error:
            raise ValueError(f"CK+: cannot read an emotion code 0-7 from {label_file}") from error
        expression = class_names.index(name) if name in class_names else -1
        if expression < 0:
            continue
        relative = label_file.parent.relative_to(emotion_dir)
        frames = common.list_images(images_dir / relative, recursive=False)
        if not frames:
            raise common.LayoutError(f"CK+: {label_file} has no frames in {images_dir / relative}.")
        subject = relative.parts[0]
        sequence = "/".join(relative.parts)
        chosen = [(f, expression, 1.0) for f in frames[-last_n:]]
        if first_as_neutral and len(frames) > last_n:
            chosen.insert(0, (frames[0], class_names.index("neutral"), 0.0))
        for frame, label, intensity in chosen:
            match = _FRAME.search(frame.stem)
            paths.append(frame)
            records.append(
                (label, subject, sequence, int(match.group(3)) if match else -1, intensity)
            )
    return paths, records


def _class_folders(root, class_names):
    paths, records = [], []
    for expression, path in common.class_folder_images(root, class_names, "CK+", LAYOUT):
        match = _FRAME.search(path.stem)
        subject = match.group(1).upper() if match else "unknown"
        sequence = f"{subject}/{match.group(2)}" if match else "unknown"
        paths.append(path)
        records.append(
            (expression, subject, sequence, int(match.group(3)) if match else -1, np.nan)
        )
    return paths, records
