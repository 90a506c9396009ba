"""CMU Multi-PIE (Gross et al. 2010): 337 subjects, 4 sessions, 15 views, 20 flash illuminations.

Expected layout (the distribution's `data/` folder):

    <root>/session0S/multiview/<subject>/<recording>/<camera>/<subject>_0S_<recording>_<cam>_<illum>.png
    e.g. session01/multiview/001/01/05_1/001_01_01_051_07.png
         subject 001, session 01, recording 01, camera 05_1 (frontal), illumination 07

Camera -> yaw (degrees; negative = cameras on the subject's right, 11_0 side) in `CAMERA_YAW`.
The two raised cameras 08_1 and 19_1 have yaw NaN (`pitch` NaN too: they look down).
Recording -> expression (per session): S1: 01 neutral, 02 smile; S2: 01 neutral, 02 surprise,
03 squint; S3: 01 neutral, 02 smile, 03 disgust; S4: 01 neutral, 02 neutral, 03 scream.
smile -> happy; squint and scream have no EXPRESSIONS class: dropped by default, kept with
expression -1 when `keep_unmapped=True`.

Labels: expression, identity (index of the subject id in sorted order), session (0-3), yaw,
pitch (0 for the 13 horizontal cameras), illumination (0-19 from the file name; 0 = no flash).
"""

import re

import numpy as np

from fer_zoo.data.adapters import common

LAYOUT = __doc__.split("Camera -> yaw")[0].split("Expected layout")[1]

CAMERA_YAW = {
    "11_0": -90.0,
    "12_0": -75.0,
    "09_0": -60.0,
    "08_0": -45.0,
    "13_0": -30.0,
    "14_0": -15.0,
    "05_1": 0.0,
    "05_0": 15.0,
    "04_1": 30.0,
    "19_0": 45.0,
    "20_0": 60.0,
    "01_0": 75.0,
    "24_0": 90.0,
    "08_1": np.nan,
    "19_1": np.nan,
}
RECORDING_EXPRESSIONS = {
    (1, 1): "neutral",
    (1, 2): "happy",
    (2, 1): "neutral",
    (2, 2): "surprise",
    (2, 3): "squint",
    (3, 1): "neutral",
    (3, 2): "happy",
    (3, 3): "disgust",
    (4, 1): "neutral",
    (4, 2): "neutral",
    (4, 3): "scream",
}
_NAME = re.compile(r"^(\d{3})_(\d{2})_(\d{2})_(\d{3})_(\d{2})$")


def camera_of(code):
    """File-name camera code `"051"` -> camera id `"05_1"`."""
    return f"{code[:2]}_{code[2]}"


def load_multipie(
    root,
    image_size=64,
    channels=1,
    cameras=None,
    illuminations=None,
    sessions=None,
    keep_unmapped=False,
    cropped=False,
    cache_dir=None,
    skip_bad=False,
):
    """Loads Multi-PIE multiview images as a `FaceSet`.

    Args:
        root: folder containing `session01/` ... `session04/`.
        cameras: camera ids to keep (e.g. `["05_1", "14_0", "13_0"]`), default all 15.
        illuminations: illumination indices to keep (e.g. `[7]` frontal flash), default all.
        sessions: session numbers 1-4 to keep, default all.
        keep_unmapped: keep squint/scream images with expression -1.
        cropped: images are already face crops (only resize) instead of detect + align.
    """
    root = common.require_root(root, "Multi-PIE", LAYOUT)
    files = [p for p in common.list_images(root) if "multiview" in p.parts]
    paths, records = [], []
    for path in files:
        match = _NAME.match(path.stem)
        if match is None:
            continue
        subject, session, recording, camera, illumination = match.groups()
        session, recording, illumination = int(session), int(recording), int(illumination)
        camera = camera_of(camera)
        if camera not in CAMERA_YAW:
            raise ValueError(
                f"Multi-PIE: unknown camera {camera} in {path}; known: {sorted(CAMERA_YAW)}."
            )
        if cameras is not None and camera not in cameras:
            continue
        if illuminations is not None and illumination not in illuminations:
            continue
        if sessions is not None and session not in sessions:
            continue
        name = RECORDING_EXPRESSIONS.get((session, recording))
        expression = common.expression_index(name) if name in common.EXPRESSION_ALIASES else -1
        if expression < 0 and not keep_unmapped:
            continue
        paths.append(path)
        records.append((expression, subject, session - 1, CAMERA_YAW[camera], illumination))
    if not paths:
        raise common.empty_error(
            "Multi-PIE", root, LAYOUT, f"{len(files)} images under multiview/ matched the filters"
        )
    subjects = sorted({r[1] for r in records})
    yaw = np.asarray([r[3] for r in records], np.float32)
    labels = common.as_label_arrays(
        {
            "expression": [r[0] for r in records],
            "identity": [subjects.index(r[1]) for r in records],
            "session": [r[2] for r in records],
            "yaw": yaw,
            "pitch": np.where(np.isnan(yaw), np.nan, 0.0).astype(np.float32),
            "illumination": [r[4] for r in records],
        },
        len(paths),
    )
    faceset = common.faces_from_files(
        "multipie",
        paths,
        labels,
        image_size=image_size,
        channels=channels,
        cropped=cropped,
        cache_dir=cache_dir,
        skip_bad=skip_bad,
    )
    faceset.report["identity_codes"] = subjects
    return faceset
