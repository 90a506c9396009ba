"""JAFFE (Lyons et al. 1998): 213 grey photos of 10 Japanese women, 7 posed expressions.

Expected layout: `<root>/**/<subject>.<EXPR><n>.<number>.tiff`, e.g. `KA.AN1.39.tiff`
(subject initials KA, KL, KM, KR, MK, NA, NM, TM, UY, YM; EXPR AN angry, DI disgust, FE fear,
HA happy, NE neutral, SA sad, SU surprise; n = repetition).

Labels: expression, identity (index of the initials in sorted order). The photos show the head
and shoulders: faces are detected and aligned unless `cropped=True`.
"""

import re

from fer_zoo.data.adapters import common

LAYOUT = __doc__.split("Labels:")[0].split("Expected layout:")[1]
JAFFE_EXPRESSIONS = {
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
_NAME = re.compile(r"^([A-Z]{2})\.(AN|DI|FE|HA|NE|SA|SU)\d*\.\d+$", re.IGNORECASE)


def load_jaffe(root, image_size=64, channels=1, cropped=False, cache_dir=None, skip_bad=False):
    """Loads JAFFE as a `FaceSet` (see the module docstring for the file names)."""
    root = common.require_root(root, "JAFFE", LAYOUT)
    paths, records = [], []
    for path in common.list_images(root):
        match = _NAME.match(path.stem)
        if match is None:
            continue
        paths.append(path)
        records.append(
            (
                common.EXPRESSIONS.index(JAFFE_EXPRESSIONS[match.group(2).upper()]),
                match.group(1).upper(),
            )
        )
    if not paths:
        raise common.empty_error("JAFFE", root, LAYOUT)
    subjects = sorted({r[1] for r in records})
    labels = common.as_label_arrays(
        {
            "expression": [r[0] for r in records],
            "identity": [subjects.index(r[1]) for r in records],
        },
        len(paths),
    )
    faceset = common.faces_from_files(
        "jaffe",
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
