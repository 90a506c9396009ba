"""Photos of people on cluttered backgrounds, built from studio photos (KDEF's plain background).

Used to measure detection and reading on clutter (`benchmarks.profiles`) and to make training data
that does not show only a studio wall (`fer_zoo.data.profile_verifier`). Two background styles that
share no drawing code: `clutter` (rectangles, lines, discs over noise; what the benchmarks paste
people on) and `training_clutter` (polygons, ellipses, text, gradients and stripes; what training
data is pasted on), so that a model trained on one is measured on the other.
"""

import numpy as np


def clutter(rng, height=360, width=640):
    """A uint8 RGB background of random rectangles, lines and blobs over noise."""
    import cv2

    image = rng.integers(60, 200, 3).astype(np.float32) + rng.normal(0, 12, (height, width, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(25):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(image, (x, y), (x + int(rng.integers(10, 120)), y + int(rng.integers(10, 120))), colour, -1)
        elif kind == 1:
            cv2.line(image, (x, y), (int(rng.integers(0, width)), int(rng.integers(0, height))), colour,
                     int(rng.integers(1, 6)))
        else:
            cv2.circle(image, (x, y), int(rng.integers(5, 40)), colour, -1)
    return cv2.GaussianBlur(image, (3, 3), 0)


def segment_person(rgb):
    """uint8 mask (1 = person) of a studio photo with a plain background: GrabCut seeded with the
    photo's left, right and top border as background, the largest region kept, holes filled (the
    eyes' whites can match a grey background)."""
    import cv2

    height, width = rgb.shape[:2]
    mask = np.full((height, width), cv2.GC_PR_FGD, np.uint8)
    mask[:6], mask[:, :6], mask[:, -6:] = cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD
    models = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # GrabCut's colour models start from k-means on OpenCV's global generator
    cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), mask, None, *models, 4, cv2.GC_INIT_WITH_MASK)
    person = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    count, regions, stats, _ = cv2.connectedComponentsWithStats(person)
    if count > 1:
        person = (regions == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])).astype(np.uint8)
    outside = np.pad(1 - person, 1, constant_values=1)
    cv2.floodFill(outside, None, (0, 0), 2)  # background reachable from the border
    return (outside[1:-1, 1:-1] != 2).astype(np.uint8)


def compose_people(people, rng, scale=(0.45, 0.6), background=None):
    """`(photo, boxes)`: each `(rgb, mask)` of `people` resized by a random factor in `scale` and
    blended (1 px feathered edge) side by side on a cluttered background; `boxes` are the pasted
    persons' bounding boxes. `background`: a function of `rng` that draws it (default `clutter`)."""
    import cv2

    photo = (background or clutter)(rng).astype(np.float32)
    slot_width = (photo.shape[1] - 20) // len(people)
    boxes = []
    for slot, (rgb, mask) in enumerate(people):
        factor = float(rng.uniform(*scale))
        size = (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor))
        person = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        alpha = cv2.GaussianBlur(cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA), (3, 3), 0)
        x0 = 10 + slot * slot_width + int(rng.integers(0, max(1, slot_width - size[0])))
        y0 = int(rng.integers(0, max(1, photo.shape[0] - size[1])))
        region = photo[y0:y0 + size[1], x0:x0 + size[0]]
        a = alpha[:region.shape[0], :region.shape[1], None]
        region[:] = a * person[:region.shape[0], :region.shape[1]] + (1 - a) * region
        ys, xs = np.nonzero(alpha[:region.shape[0], :region.shape[1]] > 0.5)
        if not len(xs):  # an empty cut-out (segmentation failed): the pasted rectangle is the person
            ys, xs = np.array([0, region.shape[0] - 1]), np.array([0, region.shape[1] - 1])
        boxes.append((x0 + xs.min(), y0 + ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))
    return np.clip(photo, 0, 255).astype(np.uint8), boxes


def training_clutter(rng, height=360, width=640):
    """A uint8 RGB background of a colour gradient, filled polygons, ellipse outlines, text and
    stripes (none of `clutter`'s shapes), lightly blurred."""
    import cv2

    corners = rng.integers(30, 226, (2, 3)).astype(np.float32)
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    image = corners[0] * (1 - ramp) + corners[1] * ramp + rng.normal(0, float(rng.uniform(3, 20)), (height, width, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(12, 30))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        kind = rng.integers(4)
        if kind == 0:
            points = np.array([[x, y]], np.int32) + rng.integers(-70, 70, (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(image, [points], colour)
        elif kind == 1:
            axes = (int(rng.integers(5, 80)), int(rng.integers(5, 80)))
            cv2.ellipse(image, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, colour, int(rng.integers(1, 8)))
        elif kind == 2:
            text = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(2, 8))))
            cv2.putText(image, text, (x, y), int(rng.integers(0, 8)), float(rng.uniform(0.5, 3.0)), colour,
                        int(rng.integers(1, 5)))
        else:
            step = int(rng.integers(4, 16))
            w, h = int(rng.integers(20, 150)), int(rng.integers(20, 150))
            for offset in range(0, w, 2 * step):
                cv2.rectangle(image, (x + offset, y), (x + offset + step - 1, y + h), colour, -1)
    return cv2.GaussianBlur(image, (3, 3), float(rng.uniform(0.3, 1.5)))


def person_mask(path, mask_dir=None, rgb=None):
    """`segment_person` of the studio photo at `path` (`rgb`: its pixels, if already read), cached
    bit-packed as `mask_dir/<file stem>.npz` when `mask_dir` is given (GrabCut takes ~0.4 s)."""
    import pathlib

    from fer_zoo.data.preprocessing import read_image

    rgb = read_image(path) if rgb is None else rgb
    cached = None if mask_dir is None else pathlib.Path(mask_dir) / (pathlib.Path(path).stem + ".npz")
    if cached is not None and cached.exists():
        return np.unpackbits(np.load(cached)["mask"])[:rgb.shape[0] * rgb.shape[1]].reshape(rgb.shape[:2])
    mask = segment_person(rgb)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cached, mask=np.packbits(mask))
    return mask


def person_masks(paths, mask_dir, progress=None):
    """Caches `person_mask` of every photo in `paths` in `mask_dir`, on every core."""
    import functools
    import multiprocessing
    import pathlib

    missing = [p for p in paths if not (pathlib.Path(mask_dir) / (pathlib.Path(p).stem + ".npz")).exists()]
    if not missing:
        return
    with multiprocessing.get_context("spawn").Pool() as pool:
        work = pool.imap_unordered(functools.partial(_cache_only, mask_dir=str(mask_dir)), missing)
        for done, _ in enumerate(work, start=1):
            if progress and done % 200 == 0:
                progress(f"person masks {done}/{len(missing)}")


def _cache_only(path, mask_dir):
    person_mask(path, mask_dir)


def head_face_box(boxes, person_box):
    """The face of `boxes` (`(x, y, w, h)`, e.g. a detector's) whose centre lies on the upper
    half of the pasted person `person_box` (their head), the largest if several; None if none."""
    x, y, w, h = person_box
    on_head = [b for b in boxes if x <= b[0] + b[2] / 2 <= x + w and y <= b[1] + b[3] / 2 <= y + 0.5 * h]
    return max(on_head, key=lambda b: b[2] * b[3], default=None)
