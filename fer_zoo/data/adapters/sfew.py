"""SFEW 2.0 (Dhall et al.): static frames from movies, 7 expressions, class folders per split.

Expected layout:

    <root>/<Train|Val|Test>/<Angry|Disgust|Fear|Happy|Neutral|Sad|Surprise>/*.png

(The aligned-face release has the same structure.) Labels: expression, split (Train 0, Val 1,
Test 2). Faces are detected and aligned unless `cropped=True` (use it for the aligned release).
"""

from fer_zoo.data.adapters import common, generic

LAYOUT = __doc__.split("(The aligned")[0].split("Expected layout:")[1]


def load_sfew(root, image_size=64, channels=1, cropped=False, cache_dir=None, skip_bad=False):
    """Loads SFEW 2.0 (class folders per split) as a `FaceSet` named "sfew"."""
    root = common.require_root(root, "SFEW", LAYOUT)
    splits = [p for p in root.iterdir() if p.is_dir() and p.name.lower() in generic.SPLIT_NAMES]
    if not splits:
        raise common.empty_error("SFEW", root, LAYOUT, "no Train/Val/Test folders")
    return generic.load_folder(
        root,
        image_size,
        channels,
        cropped=cropped,
        cache_dir=cache_dir,
        skip_bad=skip_bad,
        name="sfew",
    )
