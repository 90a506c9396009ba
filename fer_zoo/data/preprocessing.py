"""OpenCV face preprocessing: detection, landmark-free eye alignment, cropping, scaling, luminance.

The pipeline for one photograph is

1. **detect** with the stages in `FacePreprocessor.detectors`: the detectors all run and their
   faces are merged (one face per head), the fallbacks only when the detectors found none:
   `"frontal"` (Haar frontal cascades), `"profile"` (Haar profile cascade on the image and on its
   mirror, so both left and right profiles are found, and on copies turned by -+15 degrees
   for tilted heads, whose crops are turned back upright; where it fires too few windows for
   its own grouping, a small CNN, `fer_zoo.data.profile_verifier`, decides), `"foreground"` (largest skin-coloured
   blob on a plain background, its top part taken as the face; for studio sets such as KDEF whose
   full profiles defeat the cascades), `"centre"` (a centred square, always succeeds). The stage
   that produced a face is reported as `FaceResult.method`, so fallbacks are never silent.
2. **align** (frontal faces only, `align=True`): Haar eye cascades inside the face box; when two
   plausible eyes are found the image is rotated so the eyes are level and scaled so they land at
   fixed positions of the output (`eye_y`, `eye_distance`). Otherwise the detector's box is used.
3. **crop** a square with `margin` (fraction of the face box added on every side), resize to
   `size`, convert to grey (`channels=1`, ITU-R BT.601 luma as `cv2.cvtColor`) or RGB
   (`channels=3`), scale to float32 in [-1, 1].

`FacePreprocessor(...)(image)` returns a list of `(box, face)` (empty when no face is found);
`FacePreprocessor.process(image)` returns `FaceResult`s with the method, eye positions, score and
the affine transform, and `FacePreprocessor.first(image)` the best face or a `FaceResult` whose
`face` is None and whose `reason` says why.

Images in: a path, or an array `(H, W)`, `(H, W, 1)` or `(H, W, 3)` in **RGB** order, uint8 in
[0, 255] or float (in [0, 1], or [-1, 1] when it has negative values).
"""

import dataclasses
import functools
import hashlib
import json
import os
import pathlib

import cv2
import numpy as np

DETECTORS = ("frontal", "profile", "foreground", "centre")
# Stages that guess rather than detect: they run only when the detectors found nothing.
FALLBACK_STAGES = ("foreground", "centre")

# The profile stage (see `FacePreprocessor._stage_profile`): image turns tried in order until one
# finds a face, the cascade's pyramid step and its neighbour threshold.
PROFILE_ROLLS = (0.0, -15.0, 15.0)
PROFILE_SCALE_FACTOR = 1.08
PROFILE_BESIDE_SCALE_FACTOR = 1.15  # the strips beside one frontal face (`_profiles_beside`)
PROFILE_MIN_NEIGHBORS = 2

# Rec. 709 / sRGB luminance coefficients.
LUMINANCE_WEIGHTS = (0.2126, 0.7152, 0.0722)


# --------------------------------------------------------------------------------------------
# Image I/O and conversions.
# --------------------------------------------------------------------------------------------
def read_image(path):
    """Reads an image file as uint8 RGB `(H, W, 3)`; raises `ValueError` naming unreadable files.

    Decoded by `decode_image`: 16-bit files are scaled to 8 bits, transparent PNGs composited
    over white.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image file not found: {path}")
    image = decode_image(np.fromfile(str(path), dtype=np.uint8))
    if image is None:
        raise ValueError(f"Cannot decode image file (corrupt or unsupported format): {path}")
    return image


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_has_alpha(data):
    """Whether encoded bytes are a PNG with transparency (alpha colour type or a tRNS chunk)."""
    if data.size < 26 or data[:8].tobytes() != _PNG_SIGNATURE:
        return False
    if data[25] in (4, 6):  # IHDR colour type: grey + alpha, RGBA
        return True
    head = data[:65536].tobytes()  # tRNS (palette / single-colour transparency) precedes IDAT
    idat = head.find(b"IDAT")
    return b"tRNS" in head[: idat if idat >= 0 else None]


def decode_image(data):
    """Encoded image bytes (JPEG, PNG, BMP, TIFF, WebP, ...) -> uint8 RGB `(H, W, 3)`, or None.

    16-bit images are scaled to 8 bits. A PNG with transparency is composited over white (as
    image viewers show it) instead of exposing whatever colour its transparent pixels store;
    other files are decoded with OpenCV's `IMREAD_COLOR` (which applies EXIF orientation).
    """
    data = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    if not data.size:
        return None
    try:
        if _png_has_alpha(data):
            image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
            if image is not None and image.ndim == 3 and image.shape[-1] == 4:
                return to_uint8_rgb(cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA))
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image_or_skip(path, skip_bad, bad, key=None):
    """`read_image(path)`, or None after appending `(key or path, reason)` to `bad` when the file
    is unreadable and `skip_bad` is set (otherwise the error, naming the file, is raised)."""
    try:
        return read_image(path)
    except (OSError, ValueError) as error:
        if not skip_bad:
            raise ValueError(f"{error} (pass skip_bad=True to skip unreadable files)") from error
        bad.append((path if key is None else key, str(error)))
        return None


def to_uint8_rgb(image):
    """Any accepted image -> uint8 RGB `(H, W, 3)`.

    Accepts a path, or an array `(H, W)` / `(H, W, 1)` grey, `(H, W, 3)` RGB or `(H, W, 4)` RGBA
    (composited over white). uint8 is taken as is, uint16 scaled from its full range (0-65535),
    bool as black/white, other types as float in [-1, 1] (when negative), [0, 1] (when at most 1)
    or else [0, 255].
    """
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.size == 0:
        raise ValueError(f"Expected a non-empty image; got shape {image.shape}.")
    if image.ndim == 3 and image.shape[-1] == 4:
        colour = to_uint8_rgb(image[..., :-1]).astype(np.float32)
        alpha = _to_uint8(image[..., -1:]).astype(np.float32) / 255.0
        return np.round(colour * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ValueError(
            f"Expected an image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got shape {image.shape}."
        )
    image = _to_uint8(image)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(image)


def _to_uint8(values):
    """Pixel values of any dtype -> uint8 (see `to_uint8_rgb` for the ranges assumed)."""
    if values.dtype == np.uint8:
        return values
    if values.dtype == np.uint16:
        return np.round(values / 257.0).astype(np.uint8)
    if values.dtype == np.bool_:
        return values.astype(np.uint8) * 255
    values = values.astype(np.float32)
    if values.min() < 0:
        values = (values + 1.0) * 127.5
    elif values.max() <= 1.0:
        values = values * 255.0
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def from_model_range(images):
    """Images in the models' range [-1, 1] (any shape, e.g. a generator's output) -> uint8 in
    [0, 255], rounded and clipped: the inverse of `to_model_range` (for PNGs and figures)."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_model_range(image_uint8, channels):
    """uint8 RGB (or grey) -> float32 `(H, W, channels)` in [-1, 1]."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}.")
    if image_uint8.ndim == 3 and channels == 1:
        image_uint8 = cv2.cvtColor(image_uint8, cv2.COLOR_RGB2GRAY)
    elif image_uint8.ndim == 2 and channels == 3:
        image_uint8 = cv2.cvtColor(image_uint8, cv2.COLOR_GRAY2RGB)
    out = image_uint8.astype(np.float32) / 127.5 - 1.0
    return out[..., None] if out.ndim == 2 else out


def relative_luminance(images, linear=False):
    """Relative luminance Y of images in [-1, 1]: `0.2126 R + 0.7152 G + 0.0722 B`, mean per image.

    Args:
        images: `(N, H, W, C)` or `(H, W, C)` in [-1, 1]; grey images (C=1) use the grey value.
        linear: if True, undo the sRGB transfer curve first (physical relative luminance);
            if False (default, as GASCA) the weights apply to the gamma-encoded values.

    Returns:
        `(N,)` float array (or a float for one image) in [0, 1].
    """
    images = np.asarray(images, dtype=np.float32)
    single = images.ndim == 3
    if single:
        images = images[None]
    values = np.clip((images + 1.0) / 2.0, 0.0, 1.0)
    if linear:
        values = np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)
    if values.shape[-1] == 3:
        y = values @ np.asarray(LUMINANCE_WEIGHTS, np.float32)
    else:
        y = values[..., 0]
    y = y.reshape(len(y), -1).mean(axis=1)
    return float(y[0]) if single else y


def closest_to_mean_luminance(images, linear=False):
    """GASCA2's target choice: index of the image whose luminance is closest to the set's mean."""
    y = relative_luminance(images, linear=linear)
    y = np.atleast_1d(y)
    if y.size == 0:
        raise ValueError("closest_to_mean_luminance needs at least one image.")
    return int(np.argmin(np.abs(y - y.mean())))


# --------------------------------------------------------------------------------------------
# Detection.
# --------------------------------------------------------------------------------------------
@functools.cache
def _cascade(name):
    path = os.path.join(cv2.data.haarcascades, name)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise OSError(f"Cannot load OpenCV Haar cascade {path}")
    return cascade


def _detect(cascade_name, grey, min_size, min_neighbors=5, scale_factor=1.1):
    boxes, _, weights = _cascade(cascade_name).detectMultiScale3(
        grey,
        scaleFactor=scale_factor,
        minNeighbors=min_neighbors,
        minSize=(min_size, min_size),
        outputRejectLevels=True,
    )
    return [(tuple(int(v) for v in b), float(w)) for b, w in zip(boxes, np.ravel(weights))]


def _detect_counting(cascade_name, grey, min_size, min_neighbors=5, scale_factor=1.1, eps=0.2):
    """`(_detect(...), raw)`: the same grouped detections, plus the raw windows `[(box, weight),
    ...]` the cascade accepted before grouping (none on most face-free images: evidence that
    nothing face-like is there). The grouping is OpenCV's own (`cv2.groupRectangles`, which
    `detectMultiScale` runs with `minNeighbors` and eps 0.2), each group scored by the best level
    weight among its windows, as `detectMultiScale3(outputRejectLevels=True)` does."""
    boxes, _, weights = _cascade(cascade_name).detectMultiScale3(
        grey, scaleFactor=scale_factor, minNeighbors=0, minSize=(min_size, min_size), outputRejectLevels=True)
    raw = [(tuple(int(v) for v in b), float(w)) for b, w in zip(boxes, np.ravel(weights))]
    if not raw:
        return [], []
    return _group_windows(raw, min_neighbors, eps), raw


def _group_windows(raw, min_neighbors, eps=0.2):
    """OpenCV's grouping of raw windows `[(box, weight), ...]` into `[(box, score), ...]`: groups
    of more than `min_neighbors` windows (0: every group, single windows included), each scored by
    its best window weight."""
    rects = [list(b) for b, _ in raw]
    if min_neighbors <= 0:
        # groupRectangles returns the input unchanged for a threshold of 0: doubling every window
        # and asking for 2 keeps every cluster, single windows too.
        rects, min_neighbors = rects * 2, 1
    grouped, _ = cv2.groupRectangles(rects, min_neighbors, eps)
    found = []
    for box in grouped:
        box = tuple(int(v) for v in box)
        score = max((w for b, w in raw if _iou(b, box) > 0.3), default=0.0)
        found.append((box, score))
    return found


class _DetectionImage:
    """The grey image the cascades search, shrunk so that the smallest face we look for spans
    `face_px` pixels (Haar cascades work on 20-24 px windows, so searching a 1080p photo at full
    resolution for 200 px faces is wasted time). Boxes are mapped back to source pixels.

    `raw` is the plain grey image (the first, cheapest pass: histogram equalisation amplifies
    background texture into many more candidate windows and makes the cascade ~1.6x slower);
    `equalised` (computed on first use) serves the fallback passes for dark or low-contrast
    photos.
    """

    def __init__(self, rgb, min_face, face_px, scale_factor=1.1):
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        self.min_size = max(12, int(min_face * min(grey.shape[:2])))
        self.scale = min(1.0, face_px / self.min_size) if face_px else 1.0
        if self.scale < 1.0:
            grey = cv2.resize(grey, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        self.raw = grey
        self.search_size = max(12, int(round(self.min_size * self.scale)))
        self.scale_factor = scale_factor
        self._equalised = None

    @property
    def equalised(self):
        if self._equalised is None:
            self._equalised = cv2.equalizeHist(self.raw)
        return self._equalised

    def detect(self, cascade_name, equalised=False, mirrored=False, min_neighbors=5, scale_factor=None,
               min_size=None, region=None):
        """`[(box, score), ...]` in source pixels; `min_size`: smallest face side in source pixels
        (default: the image's `min_face`); `region`: `(x0, y0, x1, y1)` in source pixels to
        search instead of the whole image."""
        found, _ = self.detect_counting(cascade_name, equalised, mirrored, min_neighbors, scale_factor,
                                        min_size, region, count=False)
        return found

    def detect_counting(self, cascade_name, equalised=False, mirrored=False, min_neighbors=5, scale_factor=None,
                        min_size=None, region=None, count=True):
        """`(detect(...), raw)`: also the raw cascade windows `[(box, weight), ...]` that fired
        before grouping (`_detect_counting`), in source pixels; `count=False` runs the plain
        grouped search and returns raw None."""
        scale_factor = scale_factor or self.scale_factor
        grey = self.equalised if equalised else self.raw
        left = top = 0
        if region is not None:
            x0, y0, x1, y1 = (int(round(v * self.scale)) for v in region)
            left, top = max(0, x0), max(0, y0)
            grey = grey[top:max(top, y1), left:max(left, x1)]
            if min(grey.shape[:2]) < self._search_size(min_size):
                return [], []
        if mirrored:
            grey = np.ascontiguousarray(grey[:, ::-1])
        width = grey.shape[1]
        grey, size = np.ascontiguousarray(grey), self._search_size(min_size)
        if count:
            boxes, raw = _detect_counting(cascade_name, grey, size, min_neighbors, scale_factor)
        else:
            boxes, raw = _detect(cascade_name, grey, size, min_neighbors, scale_factor), None
        def to_source(boxes):
            mapped = []
            for (x, y, w, h), score in boxes:
                if mirrored:
                    x = width - x - w
                mapped.append((tuple(int(round(v / self.scale)) for v in (x + left, y + top, w, h)), score))
            return mapped

        return to_source(boxes), None if raw is None else to_source(raw)

    def _search_size(self, min_size):
        if min_size is None:
            return self.search_size
        return max(self.search_size, int(round(min_size * self.scale)))

    def detect_rolled(self, cascade_name, angle, mirrored=False, min_neighbors=5, scale_factor=None,
                      min_size=None):
        """`[(box, score, roll), ...]` in source pixels from the (mirrored) image turned by
        `angle` degrees; `roll` is the turn (degrees, `cv2.getRotationMatrix2D` sense) that makes
        the face upright in the source image, `box` the axis-aligned square around its centre."""
        if not angle:
            return [(box, score, 0.0) for box, score in self.detect(
                cascade_name, mirrored=mirrored, min_neighbors=min_neighbors, scale_factor=scale_factor,
                min_size=min_size)]
        grey = np.ascontiguousarray(self.raw[:, ::-1]) if mirrored else self.raw
        height, width = grey.shape[:2]
        turn = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), angle, 1.0)
        turned = cv2.warpAffine(grey, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)
        back = cv2.invertAffineTransform(turn)
        found = []
        for (x, y, w, h), score in _detect(cascade_name, turned, self._search_size(min_size), min_neighbors,
                                           scale_factor or self.scale_factor):
            cx, cy = back @ np.array([x + w / 2.0, y + h / 2.0, 1.0])
            if mirrored:
                cx = width - cx
            side = max(w, h) / self.scale
            cx, cy = cx / self.scale, cy / self.scale
            box = tuple(int(round(v)) for v in (cx - side / 2.0, cy - side / 2.0, side, side))
            # Mirroring swaps the sense of the turn.
            found.append((box, score, -angle if mirrored else angle))
        return found


@dataclasses.dataclass
class FaceResult:
    """One detected (or fallback) face.

    Attributes:
        box: `(x, y, w, h)` of the face in the source image (pixels).
        face: float32 `(size, size, channels)` in [-1, 1], or None when no face was found.
        method: detector stage that produced it (`"frontal"`, `"profile"`, `"foreground"`,
            `"centre"`, `"cropped"`) or `"none"`.
        aligned: whether eye alignment was applied.
        eyes: `((x, y), (x, y))` eye centres in the source image when found, else None.
        score: detector confidence (Haar level weight; 0 for fallbacks).
        roll: in-plane turn (degrees, counter-clockwise as `cv2.getRotationMatrix2D`) applied
            about the box centre so that a tilted face is cropped upright (profile stage).
        transform: 2x3 affine matrix mapping source pixels to the unit output square
            (multiply rows by the output size to crop at any resolution).
        reason: why `face` is None (empty otherwise).
    """

    box: tuple | None
    face: np.ndarray | None
    method: str
    aligned: bool = False
    eyes: tuple | None = None
    score: float = 0.0
    roll: float = 0.0
    transform: np.ndarray | None = None
    reason: str = ""

    @property
    def found(self):
        return self.face is not None


class FacePreprocessor:
    """Detects, aligns and crops faces for the models (OpenCV Haar cascades, no landmarks).

    Args:
        size: output side in pixels (square).
        channels: 1 (grey) or 3 (RGB).
        margin: fraction of the face box added on each side before resizing.
        align: level the eyes and fix their position when both are found (frontal faces).
        detectors: stages tried in order (subset of `DETECTORS`). The default for photographs,
            `("frontal", "profile")`, reports no face rather than guessing; data set builders add
            `"foreground"` and `"centre"` so that every image yields a (flagged) crop.
        assume_cropped: the inputs are already face crops: only resize/convert (method
            `"cropped"`).
        min_face: smallest face side as a fraction of the shorter image side.
        eye_y: vertical eye position in the output, fraction of the side (aligned faces).
        eye_distance: distance between the eyes in the output, fraction of the side.
        max_faces: at most this many faces per image (largest first).
        detect_face_px: the cascades search a copy of the image shrunk so that the smallest
            face (`min_face`) spans this many pixels (never enlarged); `None` searches at full
            resolution. 36 keeps the detection rate of full resolution at a fraction of the
            cost (docs/performance.md).
        profile_face_px: `detect_face_px` of the profile stage alone (None: the same). A finer
            search (36) finds more profiles in cluttered photos (near-profiles on clutter 57 ->
            70 of 144) at ~1.5x the time of photos where the stage runs, and fires on more
            face-free textures (0 -> 2 of 54; docs/profiles.md): an opt-in, not the default.
        verify_profiles: where the profile cascade fires only one or two windows (too few for
            its own grouping, as on many profiles in cluttered photos), let a small CNN
            (`fer_zoo.data.profile_verifier`) decide whether they show a face, instead of
            dropping them (upright passes, whole photo or beside frontal faces; never a window
            touching a frontal face). Held-out KDEF full profiles on clutter: found 65 -> 84 %,
            no false positive there or on 54 face-free images (docs/profiles.md). False: the
            cascade's own grouping alone.
        scale_factor: pyramid step of the first (frontal) cascade pass.
        fallback_scale_factor: pyramid step of the fallback passes (second frontal cascade on the
            equalised image, profiles): coarser, because they only run when the first pass found
            nothing.

    Example:
    ```python
    pre = FacePreprocessor(size=64, channels=1)
    for (x, y, w, h), face in pre(photo_rgb):   # face: (64, 64, 1) float32 in [-1, 1]
        ...
    result = pre.first("person.jpg")            # FaceResult; result.found, result.method
    ```
    """

    def __init__(
        self,
        size=64,
        channels=1,
        margin=0.15,
        align=True,
        detectors=("frontal", "profile"),
        assume_cropped=False,
        min_face=0.2,
        eye_y=0.38,
        eye_distance=0.36,
        max_faces=8,
        detect_face_px=30,
        scale_factor=1.15,
        fallback_scale_factor=1.2,
        profile_face_px=None,
        verify_profiles=True,
    ):
        detectors = tuple(detectors)
        unknown = [d for d in detectors if d not in DETECTORS]
        if unknown:
            raise ValueError(f"Unknown detector stage(s) {unknown}; choose from {DETECTORS}.")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}.")
        if int(size) < 4:
            raise ValueError(f"size must be at least 4 pixels, got {size}.")
        self.size = int(size)
        self.channels = int(channels)
        self.margin = float(margin)
        self.align = bool(align)
        self.detectors = detectors
        self.assume_cropped = bool(assume_cropped)
        self.min_face = float(min_face)
        self.eye_y = float(eye_y)
        self.eye_distance = float(eye_distance)
        self.max_faces = int(max_faces)
        if detect_face_px is not None and int(detect_face_px) < 20:
            raise ValueError(f"detect_face_px must be >= 20 (the cascades' window) or None, got {detect_face_px}.")
        self.detect_face_px = None if detect_face_px is None else int(detect_face_px)
        if profile_face_px is not None and int(profile_face_px) < 20:
            raise ValueError(f"profile_face_px must be >= 20 (the cascades' window) or None, got {profile_face_px}.")
        self.profile_face_px = None if profile_face_px is None else int(profile_face_px)
        for name, value in (("scale_factor", scale_factor), ("fallback_scale_factor", fallback_scale_factor)):
            if not 1.0 < float(value) <= 2.0:
                raise ValueError(f"{name} must be in (1, 2], got {value}.")
        self.scale_factor = float(scale_factor)
        self.fallback_scale_factor = float(fallback_scale_factor)
        self.verify_profiles = bool(verify_profiles)

    def get_config(self):
        return {
            "size": self.size,
            "channels": self.channels,
            "margin": self.margin,
            "align": self.align,
            "detectors": list(self.detectors),
            "assume_cropped": self.assume_cropped,
            "min_face": self.min_face,
            "eye_y": self.eye_y,
            "eye_distance": self.eye_distance,
            "max_faces": self.max_faces,
            "detect_face_px": self.detect_face_px,
            "scale_factor": self.scale_factor,
            "fallback_scale_factor": self.fallback_scale_factor,
            "profile_face_px": self.profile_face_px,
            "verify_profiles": self.verify_profiles,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def config_hash(self):
        return hashlib.sha256(json.dumps(self.get_config(), sort_keys=True).encode()).hexdigest()[
            :16
        ]

    def __repr__(self):
        return f"FacePreprocessor({self.get_config()})"

    # -- public entry points ------------------------------------------------------------------
    def __call__(self, image):
        """Returns `[(box, face), ...]` for every face found (empty list when none)."""
        return [(r.box, r.face) for r in self.process(image)]

    def first(self, image):
        """The best (largest / first-stage) face as a `FaceResult`; `face` None + `reason` if none."""
        results = self.process(image, max_faces=1)
        if results:
            return results[0]
        return FaceResult(
            None, None, "none", reason=f"no face found by detector stages {self.detectors}"
        )

    def process(self, image, max_faces=None):
        """All faces as `FaceResult`s (largest first).

        The detector stages (`"frontal"`, `"profile"`) all run and their faces are merged, so a
        photo with a frontal face and a profile beside it gives both (a profile box on a head
        the frontal stage already found is dropped). The fallback stages (`"foreground"`,
        `"centre"`) run only when no detector stage found a face.
        """
        rgb = to_uint8_rgb(image)
        max_faces = self.max_faces if max_faces is None else max_faces
        if self.assume_cropped:
            return [self._passthrough(rgb)]
        search = _DetectionImage(rgb, self.min_face, self.detect_face_px, self.scale_factor)
        found = []
        for stage in self.detectors:
            if stage in FALLBACK_STAGES and found:
                break
            for result in getattr(self, f"_stage_{stage}")(rgb, search, found):
                if not any(_same_face(result.box, kept.box) for kept in found):
                    found.append(result)
        found.sort(key=lambda r: -r.box[2] * r.box[3])
        return [self._finish(rgb, r) for r in found[:max_faces]]

    def crop(self, image, result, size=None, channels=None):
        """Re-crops `image` with a `FaceResult`'s transform at another size / channel count."""
        rgb = to_uint8_rgb(image)
        return self._warp(rgb, result.transform, size or self.size, channels or self.channels)

    # -- stages ---------------------------------------------------------------------------------
    def _stage_frontal(self, rgb, search, found):
        boxes = search.detect("haarcascade_frontalface_default.xml")
        if not boxes:
            boxes = search.detect(
                "haarcascade_frontalface_alt2.xml", equalised=True, min_neighbors=3,
                scale_factor=self.fallback_scale_factor,
            )
        return [FaceResult(b, None, "frontal", score=w) for b, w in _non_overlapping(boxes)]

    def _stage_profile(self, rgb, search, found):
        # The cascade only knows one side; the mirror image finds the other. Measured on 336
        # full profiles (KDEF FL/FR, 12 identities; docs/profiles.md): the old equalised pass
        # (1.2 pyramid, minNeighbors 4) found 9 %. The plain image (equalising turns background
        # texture into edges the profile cascade takes for a face) on a finer pyramid finds
        # ~70 %, and turning the image by -+15 degrees for tilted heads 90 %, with no detection
        # on 57 face-free images. Beside faces the frontal stage found, a cheaper search runs
        # (`_profiles_beside`), so a frontal photo costs little more.
        search = self._profile_search(rgb, search)
        if found:
            return self._profiles_beside(rgb, search, found)
        candidates = 0  # raw windows (before grouping) of the upright profile passes
        for angle in PROFILE_ROLLS:
            boxes = []
            if not angle:
                for mirrored, upright, raw in self._upright_profile_passes(search):
                    boxes += [(b, score, 0.0) for b, score in upright]
                    candidates += len(raw)
                    if self.verify_profiles:
                        boxes += [(b, score, 0.0) for b, score in self._verified_windows(rgb, raw, upright, mirrored)]
            else:
                for mirrored in (False, True):
                    boxes += search.detect_rolled("haarcascade_profileface.xml", angle, mirrored=mirrored,
                                                  min_neighbors=PROFILE_MIN_NEIGHBORS,
                                                  scale_factor=PROFILE_SCALE_FACTOR)
            if not angle and not boxes and not candidates:
                # Not one raw window of the upright profile cascade fired on either side: nothing
                # face-like to turn. Measured (docs/profiles.md): most face-free photos stop here;
                # of 336 KDEF full profiles 22 show no such window, and the turned passes found
                # some of those (recall 304 -> 294 of 336), for ~0.55x the face-free time.
                return []
            if boxes:
                kept = _non_overlapping([(b, (s, r)) for b, s, r in boxes])
                return [FaceResult(b, None, "profile", score=s, roll=r) for b, (s, r) in kept]
        return []

    def _profile_search(self, rgb, search=None):
        if self.profile_face_px is not None and self.profile_face_px != self.detect_face_px:
            return _DetectionImage(rgb, self.min_face, self.profile_face_px, self.scale_factor)
        return search or _DetectionImage(rgb, self.min_face, self.detect_face_px, self.scale_factor)

    @staticmethod
    def _upright_profile_passes(search):
        """`[(mirrored, grouped, raw), ...]` of the upright profile cascade on the image and on its
        mirror: the grouped detections and the raw windows behind them, in source pixels."""
        passes = []
        for mirrored in (False, True):
            grouped, raw = search.detect_counting("haarcascade_profileface.xml", mirrored=mirrored,
                                                  min_neighbors=PROFILE_MIN_NEIGHBORS,
                                                  scale_factor=PROFILE_SCALE_FACTOR)
            passes.append((mirrored, grouped, raw))
        return passes

    def profile_windows(self, image):
        """The profile verifier's candidates in `image` (what `verify_profiles` scores, for making
        its training data): `[(box, mirrored, grouped), ...]`, one per cluster of raw upright
        profile-cascade windows (single windows included), `grouped` when the cascade's own
        grouping (`PROFILE_MIN_NEIGHBORS`) already reports a face there."""
        rgb = to_uint8_rgb(image)
        windows = []
        for mirrored, grouped, raw in self._upright_profile_passes(self._profile_search(rgb)):
            for box, _ in _group_windows(raw, 0):
                windows.append((box, mirrored, any(_same_face(box, g) for g, _ in grouped)))
        return windows

    def _verified_windows(self, rgb, raw, grouped, mirrored):
        """Clusters of raw profile windows that the cascade's grouping dropped (too few windows)
        but the profile verifier (`fer_zoo.data.profile_verifier`) accepts, as `[(box, score)]`."""
        clusters = [(b, w) for b, w in _group_windows(raw, 0) if not any(_same_face(b, g) for g, _ in grouped)]
        if not clusters:
            return []
        from fer_zoo.data.profile_verifier import accepts

        keep = accepts(profile_window_crops(rgb, [b for b, _ in clusters], mirrored))
        accepted = []
        # Several weak clusters on one head (face, ear, hair): the first, strongest-scored, stays.
        for cluster, ok in sorted(zip(clusters, keep), key=lambda c: -c[0][1]):
            if ok and not any(_same_face(cluster[0], kept) for kept, _ in accepted):
                accepted.append(cluster)
        return accepted

    def _profiles_beside(self, rgb, search, found):
        """Profiles beside the frontal faces `found`: upright passes for faces at least 0.6x the
        smallest frontal one (people in one photo are at similar distances; the small scales
        hold most of the cascade's windows).

        With one frontal face, only the parts of the photo where another head fits are searched,
        on the profile stage's fine pyramid: a box that does not overlap the face lies wholly
        left, right, above or below it, so the four strips beside the face (reaching a quarter of
        the face into it, for heads that touch) hold every such head, and a strip narrower than
        the smallest face is skipped. A portrait whose face fills the frame costs no profile pass
        at all. With several frontal faces the whole photo is searched on the coarser fallback
        pyramid (it finds fewer profiles: 1.2 missed a SynthFER profile that 1.08-1.15 found).
        """
        min_size = 0.6 * min(min(r.box[2], r.box[3]) for r in found)
        height, width = rgb.shape[:2]
        regions, scale_factor = [None], self.fallback_scale_factor
        if len(found) == 1:
            scale_factor = PROFILE_BESIDE_SCALE_FACTOR
            x, y, w, h = found[0].box
            reach_x, reach_y = 0.25 * w, 0.25 * h
            regions = [
                (0, 0, x + reach_x, height),  # left
                (x + w - reach_x, 0, width, height),  # right
                (0, 0, width, y + reach_y),  # above
                (0, y + h - reach_y, width, height),  # below
            ]
            regions = [r for r in regions if min(r[2] - r[0], r[3] - r[1]) >= min_size]
        boxes = []
        for region in regions:
            for mirrored in (False, True):
                grouped, raw = search.detect_counting(
                    "haarcascade_profileface.xml", mirrored=mirrored, min_neighbors=PROFILE_MIN_NEIGHBORS,
                    scale_factor=scale_factor, min_size=min_size, region=region, count=self.verify_profiles)
                boxes += [(b, (s, 0.0)) for b, s in grouped]
                if self.verify_profiles and raw:
                    # A weak window touching a frontal face is that face's cheek or ear, not another head.
                    raw = [(b, w) for b, w in raw if not any(_iou(b, r.box) > 0 for r in found)]
                    boxes += [(b, (s, 0.0)) for b, s in self._verified_windows(rgb, raw, grouped, mirrored)]
        kept = _non_overlapping(boxes)
        return [FaceResult(b, None, "profile", score=s, roll=r) for b, (s, r) in kept]

    def _stage_foreground(self, rgb, search, found):
        box = foreground_face_box(rgb)
        return [] if box is None else [FaceResult(box, None, "foreground")]

    def _stage_centre(self, rgb, search, found):
        height, width = rgb.shape[:2]
        side = int(0.6 * min(height, width))
        x = (width - side) // 2
        y = max(0, int(0.45 * height) - side // 2)
        return [FaceResult((x, y, side, side), None, "centre")]

    def _passthrough(self, rgb):
        height, width = rgb.shape[:2]
        side = min(height, width)
        box = ((width - side) // 2, (height - side) // 2, side, side)
        transform = _box_transform(box, 0.0)
        return FaceResult(
            box,
            self._warp(rgb, transform, self.size, self.channels),
            "cropped",
            transform=transform,
        )

    # -- alignment and cropping -----------------------------------------------------------------
    def _finish(self, rgb, result):
        transform = None
        if self.align and result.method == "frontal":
            eyes = find_eyes(rgb, result.box)
            if eyes is not None:
                result.eyes = eyes
                result.aligned = True
                transform = _eye_transform(eyes, self.eye_y, self.eye_distance)
        if transform is None:
            transform = _box_transform(result.box, self.margin, result.roll)
        result.transform = transform
        result.face = self._warp(rgb, transform, self.size, self.channels)
        return result

    @staticmethod
    def _warp(rgb, transform, size, channels):
        matrix = np.asarray(transform, np.float64) * size
        # Output pixels per source pixel; when shrinking, warp at source resolution first and
        # then area-average, which avoids the aliasing of a direct bilinear warp.
        zoom = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
        work = size if zoom >= 0.75 else int(min(np.ceil(size / zoom), 8 * size))
        crop = cv2.warpAffine(
            rgb,
            matrix * (work / size),
            (work, work),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if work != size:
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        return to_model_range(crop, channels)


def _non_overlapping(boxes, iou=0.3):
    """`[(box, extra), ...]` largest first, dropping boxes that overlap a kept one."""
    boxes = sorted(boxes, key=lambda b: -b[0][2] * b[0][3])
    kept = []
    for box, extra in boxes:
        if all(_iou(box, k) < iou for k, _ in kept):
            kept.append((box, extra))
    return kept


def _same_face(a, b):
    """Whether boxes `a` and `b` are on the same head: they overlap (IoU >= 0.3) or the centre of
    one lies inside the other (a profile box on a frontal face's cheek overlaps it little)."""
    def centre_in(p, q):
        cx, cy = p[0] + p[2] / 2.0, p[1] + p[3] / 2.0
        return q[0] <= cx <= q[0] + q[2] and q[1] <= cy <= q[1] + q[3]

    return _iou(a, b) >= 0.3 or centre_in(a, b) or centre_in(b, a)


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter)


def _box_transform(box, margin, roll=0.0):
    """Affine map from source pixels to the unit square covering `box` grown by `margin`, turned
    by `roll` degrees about the box centre."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    scale = 1.0 / side
    square = np.array([[scale, 0.0, 0.5 - scale * cx], [0.0, scale, 0.5 - scale * cy], [0.0, 0.0, 1.0]])
    if not roll:
        return square[:2]
    turn = np.vstack([cv2.getRotationMatrix2D((cx, cy), roll, 1.0), [0.0, 0.0, 1.0]])
    return (square @ turn)[:2]


PROFILE_WINDOW_PX = 32
PROFILE_WINDOW_MARGIN = 0.15


def profile_window_crops(image, boxes, mirrored):
    """Grey `(n, PROFILE_WINDOW_PX, PROFILE_WINDOW_PX, 1)` float32 crops in [-1, 1] of profile
    boxes with `PROFILE_WINDOW_MARGIN`, what the profile verifier reads; a box found on the mirror
    image is flipped back, so every crop faces the way the cascade was trained."""
    rgb = to_uint8_rgb(image)
    crops = [FacePreprocessor._warp(rgb, _box_transform(box, PROFILE_WINDOW_MARGIN), PROFILE_WINDOW_PX, 1)
             for box in boxes]
    crops = np.stack(crops) if crops else np.zeros((0, PROFILE_WINDOW_PX, PROFILE_WINDOW_PX, 1), np.float32)
    return np.ascontiguousarray(crops[:, :, ::-1]) if mirrored else crops


def _eye_transform(eyes, eye_y, eye_distance):
    """Similarity transform putting the eyes level at `(0.5 -+ d/2, eye_y)` of the unit square."""
    (lx, ly), (rx, ry) = eyes
    dx, dy = rx - lx, ry - ly
    distance = np.hypot(dx, dy)
    scale = eye_distance / distance
    angle = np.arctan2(dy, dx)
    cos, sin = scale * np.cos(-angle), scale * np.sin(-angle)
    cx, cy = (lx + rx) / 2.0, (ly + ry) / 2.0
    # [cos -sin; sin cos] rotates by -angle (levels the eyes); the translation puts their centre
    # at (0.5, eye_y).
    return np.array(
        [[cos, -sin, 0.5 - (cos * cx - sin * cy)], [sin, cos, eye_y - (sin * cx + cos * cy)]]
    )


# The eye search runs on the face box shrunk to this width. 120 px against 160: half the time
# (1.5 vs 3.1 ms per face), eye centres within ~1 % of the box width of 160's, and the same
# fer-general accuracy on the 502 held-out KDEF HL/S/HR photos (90.0 %; benchmarks.versus_fer).
EYE_SEARCH_FACE_PX = 120.0
EYE_SCALE_FACTOR = 1.1


def find_eyes(rgb, box):
    """Eye centres `((x, y) image-left, (x, y) image-right)` inside a frontal face box, or None.

    Uses the Haar eye cascade in the upper part of the box and keeps the best pair that is
    roughly level, on both sides of the box centre and 25-60% of the box width apart.
    """
    x, y, w, h = box
    top_y = y + int(0.15 * h)
    top = rgb[max(0, top_y) : y + int(0.6 * h), max(0, x) : x + w]
    if top.size == 0:
        return None
    top = cv2.cvtColor(np.ascontiguousarray(top), cv2.COLOR_RGB2GRAY)
    # Eyes are found as well in a face EYE_SEARCH_FACE_PX wide as in a larger one, at a fraction
    # of the cost.
    scale = min(1.0, EYE_SEARCH_FACE_PX / w)
    if scale < 1.0:
        top = cv2.resize(top, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    top = cv2.equalizeHist(top)
    face_w = w * scale
    min_eye = max(6, int(0.12 * face_w))
    found = _cascade("haarcascade_eye.xml").detectMultiScale(
        top,
        scaleFactor=EYE_SCALE_FACTOR,
        minNeighbors=4,
        minSize=(min_eye, min_eye),
        maxSize=(int(0.4 * face_w),) * 2,
    )
    centres = [
        (max(0, x) + (ex + ew / 2.0) / scale, max(0, top_y) + (ey + eh / 2.0) / scale)
        for ex, ey, ew, eh in found
    ]
    left = [c for c in centres if c[0] < x + 0.5 * w]
    right = [c for c in centres if c[0] >= x + 0.5 * w]
    best = None
    for a in left:
        for b in right:
            distance = b[0] - a[0]
            if not 0.25 * w <= distance <= 0.6 * w or abs(b[1] - a[1]) > 0.15 * w:
                continue
            # Prefer pairs symmetric about the box centre.
            cost = abs((a[0] + b[0]) / 2.0 - (x + 0.5 * w)) + abs(b[1] - a[1])
            if best is None or cost < best[0]:
                best = (cost, (a, b))
    return None if best is None else best[1]


def foreground_face_box(rgb, background_threshold=18.0):
    """Face box from the largest skin-coloured foreground region, or None.

    Skin is thresholded in YCrCb (Cr 135-180, Cb 80-130) and, because beige studio walls are
    skin-coloured too, pixels close (CIE Lab distance < `background_threshold`) to the colour of
    the image border (top rows, upper side columns) are removed. The largest connected region is
    taken and the face is its top part: a square 1.3 times the 90th-percentile row extent of the
    region's upper 35%, starting just above the region's top (the top of the skin region is the
    forehead, or the hairline for fair hair, which is skin-coloured).
    """
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    mask = cv2.inRange(ycrcb, (40, 135, 80), (255, 180, 130))
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    height = lab.shape[0]
    edge = max(2, min(lab.shape[:2]) // 32)
    border = np.concatenate(
        [
            lab[:edge].reshape(-1, 3),
            lab[: height // 2, :edge].reshape(-1, 3),
            lab[: height // 2, -edge:].reshape(-1, 3),
        ]
    )
    background = np.linalg.norm(lab - np.median(border, axis=0), axis=-1) < background_threshold
    mask[background] = 0
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count <= 1:
        return None
    index = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = stats[index]
    if area < 0.01 * mask.size:
        return None
    region = labels[y : y + h, x : x + w] == index
    # Head = the region's upper part (shoulders widen it further down): its wide rows.
    rows = region[: max(1, int(0.35 * h))]
    filled = rows.any(axis=1)
    lefts = np.argmax(rows, axis=1)[filled]
    rights = (w - np.argmax(rows[:, ::-1], axis=1))[filled]
    # Faces are taller than their skin is wide (and the top is the hairline): grow the square and
    # start it a little above the region.
    side = 1.3 * float(np.percentile(rights - lefts, 90))
    centre = x + float(np.median((lefts + rights) / 2.0))
    top = max(0.0, y - 0.1 * side)
    return (int(centre - side / 2), int(top), int(side), int(side))


# --------------------------------------------------------------------------------------------
# Batch preprocessing with an on-disk cache.
# --------------------------------------------------------------------------------------------
def cache_key(paths, config, extra=None):
    """Hash of the file list (paths, sizes, modification times) and the preprocessing config."""
    digest = hashlib.sha256()
    digest.update(json.dumps(config, sort_keys=True).encode())
    digest.update(json.dumps(extra or {}, sort_keys=True, default=str).encode())
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}|{stat.st_size}|{int(stat.st_mtime)}\n".encode())
        except OSError:
            digest.update(f"{path}|missing\n".encode())
    return digest.hexdigest()[:24]


def preprocess_files(paths, preprocessor, skip_bad=False, cache_dir=None, progress=None):
    """Preprocesses image files into one array, one face per file (the best one).

    Args:
        paths: image files.
        preprocessor: a `FacePreprocessor` (use data set `detectors` ending in `"centre"` so
            every file yields a face; files without a face are reported in `missing`).
        skip_bad: skip unreadable files (listed in `bad`) instead of raising with the path.
        cache_dir: if given, results are stored in `cache_dir/faces-<key>.npz` keyed by
            `cache_key(paths, config)`; a second call with the same files and config loads it.
        progress: optional callable `progress(done, total)`.

    Returns:
        dict with `images (M, S, S, C)`, `keep` (indices into `paths` of the M images),
        `method` (stage name per kept image), `aligned` (bool per kept image), `boxes (M, 4)`,
        `bad` (list of `(path, error)`), `missing` (paths where no face was found).
    """
    paths = [str(p) for p in paths]
    cache_file = None
    if cache_dir is not None:
        key = cache_key(paths, preprocessor.get_config(), {"skip_bad": skip_bad})
        cache_file = pathlib.Path(cache_dir) / f"faces-{key}.npz"
        if cache_file.is_file():
            with np.load(cache_file, allow_pickle=False) as z:
                bad = [tuple(b) for b in z["bad"].tolist()]
                return {
                    "images": z["images"],
                    "keep": z["keep"],
                    "method": z["method"].tolist(),
                    "aligned": z["aligned"],
                    "boxes": z["boxes"],
                    "bad": bad,
                    "missing": z["missing"].tolist(),
                    "cached": True,
                }
    shape = (preprocessor.size, preprocessor.size, preprocessor.channels)
    images, keep, methods, aligned, boxes, bad, missing = [], [], [], [], [], [], []
    for i, path in enumerate(paths):
        rgb = read_image_or_skip(path, skip_bad, bad)
        if rgb is None:
            continue
        result = preprocessor.first(rgb)
        if not result.found:
            missing.append(path)
        else:
            images.append(result.face)
            keep.append(i)
            methods.append(result.method)
            aligned.append(result.aligned)
            boxes.append(result.box)
        if progress is not None:
            progress(i + 1, len(paths))
    out = {
        "images": np.stack(images) if images else np.zeros((0,) + shape, np.float32),
        "keep": np.asarray(keep, np.int64),
        "method": methods,
        "aligned": np.asarray(aligned, bool),
        "boxes": np.asarray(boxes, np.int64).reshape(-1, 4),
        "bad": bad,
        "missing": missing,
        "cached": False,
    }
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(cache_file.name + ".tmp.npz")
        np.savez_compressed(
            tmp,
            images=out["images"],
            keep=out["keep"],
            method=np.asarray(methods, dtype=str),
            aligned=out["aligned"],
            boxes=out["boxes"],
            bad=np.asarray(bad, dtype=str).reshape(-1, 2),
            missing=np.asarray(missing, dtype=str),
        )
        tmp.replace(cache_file)
    return out


def resize_faces(images, size):
    """Resizes a stack of faces `(N, H, W, C)` in [-1, 1] to `size` (already-cropped sets)."""
    images = np.asarray(images, np.float32)
    if images.shape[1:3] == (size, size):
        return images
    interp = cv2.INTER_AREA if size < images.shape[1] else cv2.INTER_LINEAR
    out = [cv2.resize(im, (size, size), interpolation=interp) for im in images]
    out = np.stack(out) if out else np.zeros((0, size, size, images.shape[-1]), np.float32)
    return out.reshape(len(out), size, size, images.shape[-1])


def convert_channels(images, channels):
    """`(N, H, W, C)` in [-1, 1] to `channels` (1: BT.601 grey, 3: grey replicated or kept)."""
    images = np.asarray(images, np.float32)
    if images.shape[-1] == channels:
        return images
    if channels == 1:
        return (images @ np.asarray((0.299, 0.587, 0.114), np.float32))[..., None]
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    raise ValueError(f"channels must be 1 or 3, got {channels}.")


# --------------------------------------------------------------------------------------------
# Studio photographs (plain background, known yaw): pose-consistent head crops.
# --------------------------------------------------------------------------------------------
def head_silhouette(rgb, threshold=18.0):
    """Foreground mask of a person on a plain studio background, and the head's top row.

    The background colour is the median (in CIE Lab) of the top rows and upper side columns;
    pixels further than `threshold` from it are foreground; the largest connected region is the
    person. Returns `(mask (H, W) bool, top_row)` or `(None, None)` if no foreground is found.
    """
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    height, width = lab.shape[:2]
    edge = max(2, min(height, width) // 32)
    border = np.concatenate(
        [
            lab[:edge].reshape(-1, 3),
            lab[: height // 2, :edge].reshape(-1, 3),
            lab[: height // 2, -edge:].reshape(-1, 3),
        ]
    )
    distance = np.linalg.norm(lab - np.median(border, axis=0), axis=-1)
    mask = (distance > threshold).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count <= 1:
        return None, None
    index = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = labels == index
    if mask.sum() < 0.02 * mask.size:
        return None, None
    rows = np.nonzero(mask.sum(axis=1) > 0.05 * width)[0]
    if rows.size == 0:
        return None, None
    return mask, int(rows[0])


def studio_head_box(mask, top, yaw, side, top_to_centre, nose_inset=0.12):
    """Square crop `(x, y, side, side)` for a studio head with known yaw and known face scale.

    Args:
        mask, top: from `head_silhouette`.
        yaw: head yaw in degrees (negative: face points to the image's left).
        side: crop side in pixels (take it from the same person's frontal photo so that every
            pose of a person is cropped at the same scale).
        top_to_centre: vertical distance from the head's top to the crop centre, in pixels.
        nose_inset: for turned heads, the leading face edge (nose/cheek) is placed this fraction
            of `side` inside the crop; for frontal heads the crop is centred on the silhouette.
    """
    height, width = mask.shape
    cy = top + top_to_centre
    band = mask[int(max(0, cy - side / 4)) : int(min(height, cy + side / 4))]
    cols = np.nonzero(band.any(axis=0))[0]
    if cols.size == 0:
        cols = np.nonzero(mask.any(axis=0))[0]
    left, right = float(cols.min()), float(cols.max())
    centre = (left + right) / 2.0
    weight = min(1.0, abs(float(yaw)) / 45.0)
    if yaw < 0:
        leading = left + (0.5 - nose_inset) * side
    else:
        leading = right - (0.5 - nose_inset) * side
    cx = (1.0 - weight) * centre + weight * leading
    return (
        int(round(cx - side / 2.0)),
        int(round(cy - side / 2.0)),
        int(round(side)),
        int(round(side)),
    )
