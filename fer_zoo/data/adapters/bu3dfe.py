"""BU-3DFE (Yin et al. 2006), 2D texture images: 100 subjects, 6 expressions x 4 intensities + neutral.

Expected layout: `<root>/<subject>/<subject>_<EXPR><LL><RACE>_F2D.bmp`, e.g.
`F0001/F0001_AN01WH_F2D.bmp` (subject F0001..F0056 / M0001..M0044; EXPR AN, DI, FE, HA, NE, SA,
SU; LL intensity level 01-04, 00 for neutral; RACE two letters; F2D = the frontal 2D texture).
Other renderings (`_F3D.wrl`, `_RAW`) are ignored.

Labels: expression, identity (index of the subject id in sorted order), intensity (level / 4:
0.25, 0.5, 0.75, 1.0; 0 for neutral), gender (F 0, M 1).
"""

import re

import numpy as np

from fer_zoo.data.adapters import common

LAYOUT = __doc__.split("Labels:")[0].split("Expected layout:")[1]
BU_EXPRESSIONS = {
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
_NAME = re.compile(r"^([FM]\d{4})_(AN|DI|FE|HA|NE|SA|SU)(\d{2})([A-Z]{2})_F2D$", re.IGNORECASE)


def load_bu3dfe(
    root,
    image_size=64,
    channels=1,
    levels=(1, 2, 3, 4),
    neutral=True,
    cropped=False,
    cache_dir=None,
    skip_bad=False,
):
    """Loads the BU-3DFE 2D textures as a `FaceSet`.

    Args:
        levels: expression intensity levels 1-4 to keep (the paper protocols often use 3-4).
        neutral: keep the neutral (level 00) images.
    """
    root = common.require_root(root, "BU-3DFE", LAYOUT)
    paths, records = [], []
    for path in common.list_images(root):
        match = _NAME.match(path.stem)
        if match is None:
            continue
        subject, code, level = match.group(1).upper(), match.group(2).upper(), int(match.group(3))
        if code == "NE" and not neutral:
            continue
        if code != "NE" and level not in levels:
            continue
        paths.append(path)
        records.append((common.EXPRESSIONS.index(BU_EXPRESSIONS[code]), subject, level / 4.0))
    if not paths:
        raise common.empty_error("BU-3DFE", root, LAYOUT)
    subjects = sorted({r[1] for r in records})
    labels = common.as_label_arrays(
        {
            "expression": [r[0] for r in records],
            "identity": [subjects.index(r[1]) for r in records],
            "intensity": np.asarray([r[2] for r in records], np.float32),
            "gender": [0 if r[1].startswith("F") else 1 for r in records],
        },
        len(paths),
    )
    faceset = common.faces_from_files(
        "bu3dfe",
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
