"""RAF-DB basic (Li et al. 2017): 15,339 in-the-wild faces, 7 expressions, train/test split.

Expected layout:

    <root>/EmoLabel/list_patition_label.txt    lines "train_00001.jpg 5" (1 surprise, 2 fear,
                                               3 disgust, 4 happy, 5 sad, 6 angry, 7 neutral)
    <root>/Image/aligned/train_00001_aligned.jpg   (100x100 aligned faces; default)
    <root>/Image/original/train_00001.jpg          (with `aligned=False`: detected + aligned)

Labels: expression, split (train 0, test 2).
"""

from fer_zoo.data.adapters import common

LAYOUT = __doc__.split("Labels:")[0].split("Expected layout:")[1]
RAF_EXPRESSIONS = (None, "surprise", "fear", "disgust", "happy", "sad", "angry", "neutral")


def load_rafdb(root, image_size=64, channels=1, aligned=True, cache_dir=None, skip_bad=False):
    """Loads RAF-DB basic as a `FaceSet` named "rafdb"."""
    root = common.require_root(root, "RAF-DB", LAYOUT)
    label_file = root / "EmoLabel" / "list_patition_label.txt"
    if not label_file.is_file():
        raise common.LayoutError(f"RAF-DB: missing {label_file}. Expected layout:\n{LAYOUT}")
    image_dir = root / "Image" / ("aligned" if aligned else "original")
    paths, expressions, splits = [], [], []
    for line_number, line in enumerate(label_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            name, code = line.split()
            expression = common.EXPRESSIONS.index(RAF_EXPRESSIONS[int(code)])
        except (ValueError, IndexError, TypeError) as error:
            raise ValueError(
                f"RAF-DB: {label_file} line {line_number}: expected '<file> <1-7>', got {line!r}"
            ) from error
        stem, suffix = name.rsplit(".", 1)
        paths.append(image_dir / (f"{stem}_aligned.{suffix}" if aligned else name))
        expressions.append(expression)
        splits.append(0 if stem.startswith("train") else 2)
    if not paths:
        raise common.empty_error("RAF-DB", root, LAYOUT, f"{label_file} is empty")
    labels = common.as_label_arrays({"expression": expressions, "split": splits}, len(paths))
    return common.faces_from_files(
        "rafdb",
        paths,
        labels,
        image_size=image_size,
        channels=channels,
        cropped=aligned,
        cache_dir=cache_dir,
        skip_bad=skip_bad,
    )
