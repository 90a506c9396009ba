"""Oulu-CASIA NIR&VIS (Zhao et al. 2011): 80 subjects, 6 expressions, neutral-to-apex sequences.

Expected layout (original or cropped release; the first folder level may be `OriginalImg` /
`Cropped` or absent):

    <root>/[OriginalImg|Cropped/]<VL|NI>/<Strong|Weak|Dark>/<P001>/<Anger|Disgust|Fear|Happiness|Sadness|Surprise>/000.jpeg

Each expression folder is one sequence (frames in name order). The last `last_n` frames get the
sequence's expression (intensity 1.0) and, with `first_as_neutral=True`, the first frame is added
as neutral (intensity 0.0).

Labels: expression, identity (index of "P001".. in sorted order), illumination (Strong 0, Weak 1,
Dark 2), sequence, frame, intensity, and `modality` (VL visible 0, NI near-infrared 1).
"""

import numpy as np

from fer_zoo.data.adapters import common

LAYOUT = __doc__.split("Each expression folder")[0].split("Expected layout")[1]
LIGHTING = {"strong": 0, "weak": 1, "dark": 2}
MODALITY = {"vl": 0, "vis": 0, "ni": 1, "nir": 1}


def load_oulu_casia(
    root,
    image_size=64,
    channels=1,
    modalities=("VL",),
    lightings=("Strong",),
    last_n=3,
    first_as_neutral=True,
    cropped=None,
    cache_dir=None,
    skip_bad=False,
):
    """Loads Oulu-CASIA as a `FaceSet`.

    Args:
        root: the data set folder (see the module docstring).
        modalities: subset of `("VL", "NI")`.
        lightings: subset of `("Strong", "Weak", "Dark")`.
        last_n, first_as_neutral: frames taken per sequence.
        cropped: only resize (default True when the path contains a `Cropped` folder).
    """
    root = common.require_root(root, "Oulu-CASIA", LAYOUT)
    wanted_modality = {MODALITY[m.lower()] for m in modalities}
    wanted_lighting = {LIGHTING[w.lower()] for w in lightings}
    paths, records = [], []
    sequence_dirs = sorted({p.parent for p in common.list_images(root)})
    for folder in sequence_dirs:
        parts = [p.lower() for p in folder.relative_to(root).parts]
        if len(parts) < 4:
            continue
        modality, lighting, subject, expression_name = parts[-4:]
        if modality not in MODALITY or lighting not in LIGHTING:
            continue
        if MODALITY[modality] not in wanted_modality or LIGHTING[lighting] not in wanted_lighting:
            continue
        expression = common.expression_index(expression_name)
        frames = common.list_images(folder, recursive=False)
        chosen = [
            (f, expression, 1.0, i) for i, f in enumerate(frames) if i >= len(frames) - last_n
        ]
        if first_as_neutral and len(frames) > last_n:
            chosen.insert(0, (frames[0], common.EXPRESSIONS.index("neutral"), 0.0, 0))
        for frame, label, intensity, index in chosen:
            paths.append(frame)
            records.append(
                (
                    label,
                    subject.upper(),
                    LIGHTING[lighting],
                    f"{modality}/{lighting}/{subject}/{expression_name}",
                    index,
                    intensity,
                    MODALITY[modality],
                )
            )
    if not paths:
        raise common.empty_error(
            "Oulu-CASIA", root, LAYOUT, f"modalities {modalities}, lightings {lightings}"
        )
    subjects = sorted({r[1] for r in records})
    sequences = sorted({r[3] for r in records})
    labels = common.as_label_arrays(
        {
            "expression": [r[0] for r in records],
            "identity": [subjects.index(r[1]) for r in records],
            "illumination": [r[2] for r in records],
            "sequence": [sequences.index(r[3]) for r in records],
            "frame": [r[4] for r in records],
            "intensity": np.asarray([r[5] for r in records], np.float32),
            "modality": [r[6] for r in records],
        },
        len(paths),
    )
    if cropped is None:
        cropped = (
            any(part.lower() == "cropped" for part in root.parts) or (root / "Cropped").is_dir()
        )
    faceset = common.faces_from_files(
        "oulu_casia",
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
