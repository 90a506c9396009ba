"""`Synthesizer`: make the face you ask for with any of the zoo's generators, behind one API.

Every generation / normalisation preset describes in its metadata (`metadata["controls"]`)
which control feeds which model input and how it is encoded; the `Synthesizer` builds the
inputs from that description, so a new generator preset needs metadata, not code. The
format (see docs/synthesis.md):

```python
"controls": {
    "inputs": {                          # one entry per model input, by input name
        "image": {"control": "face"},    # the aligned input face (an image input)
        "expression": {"control": "expression", "encoding": "one_hot"},
        "pose": {"control": "yaw", "encoding": "bins", "values": [-90, -45, 0, 45, 90]},
    },
    "defaults": {"expression": "neutral", "yaw": 0.0},   # controls without one are required
}
```

What can feed an input (`control`) and its encodings (`encoding`, default first):

* `"face"`: `"image"`, the aligned input face in the model's `input_range`.
* `"expression_from"`: `"image"`, a second face whose expression is taken (reenactment).
* `"expression"`: `"one_hot"` over the class names (`controls["class_names"]`, else the
  metadata's `class_names`), or `"index"` (an integer input).
* `["expression", "intensity"]`: `"intensity_code"`, FESR's `u = intensity * (2 * one_hot - 1)`
  (`fer_zoo.layers.ExpressionIntensityCode` at inference).
* `"yaw"`, `"light"`, `"intensity"`: `"scalar"` (the value itself), or `"bins"` (one-hot of the
  nearest of `values`; a value farther than `tolerance`, default half the largest gap between
  bins, from every bin is an error).
* `"latent"`: `"uniform"`, an identity code of `size` drawn from U(`range`) (default [-1, 1])
  for a decoder without encoder: such a model renders new identities (`num`, `seed`) and
  cannot edit a given face.

A model without `metadata["controls"]` whose only input is an image is taken as a normaliser
(face in, face out, no controls).
"""

import dataclasses
import numbers

import cv2
import numpy as np

from fer_zoo.data.preprocessing import from_model_range
from fer_zoo.zoo import loading
from fer_zoo.zoo.recognizer import read_image, source_name

CONTROLS = ("expression", "intensity", "yaw", "light", "expression_from")
# What may feed a model input: the face, an identity latent, or a user control.
SOURCES = ("face", "latent") + CONTROLS
ENCODINGS = {
    ("face",): ("image",),
    ("expression_from",): ("image",),
    ("expression",): ("one_hot", "index"),
    ("expression", "intensity"): ("intensity_code",),
    ("yaw",): ("scalar", "bins"),
    ("light",): ("scalar", "bins"),
    ("intensity",): ("scalar", "bins"),
    ("latent",): ("uniform",),
}
INTENSITY_SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)
GENERATIVE_TASKS = ("generation", "normalization")


@dataclasses.dataclass(frozen=True)
class ModelInput:
    """How one model input is built: from which controls (`sources`) and with which encoding."""

    name: str
    sources: tuple
    encoding: str
    rank: int  # of the model input, batch included
    size: int | None = None  # one-hot / bins / latent length
    values: tuple | None = None  # bin centres
    tolerance: float | None = None
    low: float = -1.0
    high: float = 1.0


@dataclasses.dataclass
class AlignedFaces:
    """Faces aligned and cropped for a `Synthesizer` (`Synthesizer.align`).

    Attributes:
        images: `(n, h, w, c)` float32 in [-1, 1] at the model's input size.
        sources: the name of each face's input (path, `<array #i>`, `<bytes #i>`).
        boxes: `(x, y, w, h)` of each face in its image.
        cropped: per face, whether the image was taken whole as a face crop.
        indices: per face, the position of its input among those given.
        skipped: inputs without a face (`on_no_face="skip"`), by name.
        count: how many inputs were given.
    """

    images: np.ndarray
    sources: list
    boxes: list
    cropped: list
    indices: np.ndarray
    skipped: list
    count: int

    def __len__(self):
        return len(self.images)

    @classmethod
    def concatenate(cls, parts):
        """One `AlignedFaces` from several (indices and counts are offset in order)."""
        parts = list(parts)
        if not parts:
            raise ValueError("AlignedFaces.concatenate needs at least one part.")
        offsets = np.cumsum([0] + [p.count for p in parts[:-1]])
        return cls(
            images=np.concatenate([p.images for p in parts]),
            sources=[s for p in parts for s in p.sources],
            boxes=[b for p in parts for b in p.boxes],
            cropped=[c for p in parts for c in p.cropped],
            indices=np.concatenate([p.indices + o for p, o in zip(parts, offsets)]).astype(np.int64),
            skipped=[s for p in parts for s in p.skipped],
            count=int(sum(p.count for p in parts)),
        )


def to_uint8(images):
    """Images in [-1, 1] -> uint8 (same shape); for writing the outputs as PNGs."""
    return from_model_range(images)


# ---------------------------------------------------------------------------------------------
# The control description.


def _input_names(model):
    return [str(getattr(t, "name", "")).split(":")[0] for t in model.inputs]


def parse_controls(model, metadata):
    """`(inputs, defaults, class_names)`: the model's `ModelInput`s (in input order) from
    `metadata["controls"]`, validated against the model's inputs."""
    name = metadata.get("name") or model.name
    names = _input_names(model)
    shapes = {n: tuple(t.shape) for n, t in zip(names, model.inputs)}
    description = metadata.get("controls")
    if description is None:
        if len(names) == 1 and len(shapes[names[0]]) == 4:
            description = {"inputs": {names[0]: {"control": "face"}}}
        else:
            raise ValueError(
                f"{name!r} has no metadata['controls'] saying how to build its inputs "
                f"{names}; see docs/synthesis.md for the format."
            )
    entries = dict(description.get("inputs") or {})
    if set(entries) != set(names):
        raise ValueError(
            f"{name!r}: metadata['controls']['inputs'] describes {sorted(entries)} but the model's "
            f"inputs are {names}."
        )
    class_names = [str(c) for c in description.get("class_names") or metadata.get("class_names") or []]
    inputs = []
    for input_name in names:
        inputs.append(_parse_input(name, input_name, entries[input_name], shapes[input_name], class_names))
    sources = [s for i in inputs for s in i.sources]
    for single in ("face", "latent") + CONTROLS:
        if sources.count(single) > 1:
            raise ValueError(f"{name!r}: {single!r} feeds more than one model input.")
    if "face" in sources and "latent" in sources:
        raise ValueError(f"{name!r}: a model takes either a face or a latent code, not both.")
    if "face" not in sources and "latent" not in sources:
        raise ValueError(f"{name!r}: no model input is fed by the face or a latent code.")
    if "expression_from" in sources and "face" not in sources:
        raise ValueError(f"{name!r}: 'expression_from' needs a face input too.")
    defaults = dict(description.get("defaults") or {})
    unknown = sorted(set(defaults) - set(sources) - {"face", "latent"})
    if unknown:
        raise ValueError(f"{name!r}: defaults for controls the model does not take: {unknown}.")
    return inputs, defaults, class_names


def _parse_input(model_name, input_name, entry, shape, class_names):
    where = f"{model_name!r} input {input_name!r}"
    if not isinstance(entry, dict):
        raise TypeError(f"{where}: the controls entry must be a dict, got {entry!r}.")
    control = entry.get("control", entry.get("controls"))
    sources = (control,) if isinstance(control, str) else tuple(control or ())
    bad = [s for s in sources if s not in SOURCES]
    if bad or sources not in ENCODINGS:
        raise ValueError(
            f"{where}: control {control!r} is not one of {list(SOURCES)} (or "
            "['expression', 'intensity'] for an intensity code)."
        )
    allowed = ENCODINGS[sources]
    encoding = entry.get("encoding", "bins" if "values" in entry and "bins" in allowed else allowed[0])
    if encoding not in allowed:
        raise ValueError(f"{where}: encoding {encoding!r} for {list(sources)}; use one of {list(allowed)}.")
    rank = len(shape)
    width = shape[-1] if rank >= 2 else None
    spec = {"name": input_name, "sources": sources, "encoding": encoding, "rank": rank}
    if encoding == "image":
        if rank != 4:
            raise ValueError(f"{where}: an image input must be (batch, h, w, c), the model's is {shape}.")
    elif encoding in ("one_hot", "intensity_code"):
        if not class_names:
            raise ValueError(f"{where}: {encoding} needs class names (metadata 'class_names').")
        spec["size"] = len(class_names)
    elif encoding == "bins":
        values = tuple(float(v) for v in entry.get("values") or ())
        if not values:
            raise ValueError(f"{where}: 'bins' needs 'values' (the bin centres).")
        gaps = np.diff(sorted(values))
        spec.update(values=values, size=len(values),
                    tolerance=float(entry.get("tolerance", gaps.max() / 2 if len(gaps) else 0.0)))
    elif encoding == "uniform":
        low, high = (float(v) for v in entry.get("range", (-1.0, 1.0)))
        spec.update(size=int(entry.get("size", width or 0)), low=low, high=high)
    if spec.get("size") is not None and (rank != 2 or width != spec["size"]):
        raise ValueError(
            f"{where}: {encoding} of length {spec['size']} does not fit the model input {shape}."
        )
    if encoding in ("scalar", "index") and not (rank == 1 or (rank == 2 and width == 1)):
        raise ValueError(f"{where}: a {encoding} input must be (batch,) or (batch, 1), got {shape}.")
    return ModelInput(**spec)


# ---------------------------------------------------------------------------------------------
# Synthesizer.


class Synthesizer:
    """Generates faces with a generation or normalisation preset: expression, intensity, pose,
    reenactment, or pose/light normalisation, whatever the model takes.

    Photos go through the `Recognizer`'s detection and alignment (a
    `fer_zoo.data.preprocessing.FacePreprocessor` configured from the preset's metadata; the
    largest face of each photo is used); `cropped=True` takes the images as face crops of any
    size (centred square, resized to the model input). A photo without a detectable face raises
    a `ValueError` naming it (`on_no_face="skip"` drops it instead; `AlignedFaces.indices` /
    `skipped` say which); an image no larger than `crop_fallback_px` without a detectable face
    is taken whole as a crop, as the `Recognizer` does.

    Controls (keyword arguments of `generate`; `controls` lists the model's): `expression` (a
    class name or index), `intensity` (0..1), `yaw` (degrees; positive turns the nose to
    image right), `light`, `expression_from` (faces whose expression is copied). Each takes one
    value for all faces or one per face; a control the model does not take raises a
    `ValueError` naming those it does; controls left out take the preset's defaults
    (`defaults`). How controls become model inputs is read from `metadata["controls"]` (module
    docstring, docs/synthesis.md).

    Args:
        model: a registered generation/normalization preset name (`fer_zoo.list_models(task=
            "generation")`) or a `keras.Model` made by `fer_zoo.load`.
        weights: weights for a model given by name (see `fer_zoo.load`).
        detector: `None` (a `FacePreprocessor` from the metadata) or a callable
            `image_rgb_uint8 -> [(box, face), ...]` with `face` float in [-1, 1].
        crop_fallback_px: see above; `None` or 0 turns the fallback off.
        batch_size: faces per model call.

    Example:
    ```python
    syn = fer_zoo.Synthesizer("jpem-generator")
    syn.controls                                  # ('expression', 'yaw')
    out = syn.generate("me.jpg", expression="happy", yaw=0.0)      # (1, 32, 32, 1) in [-1, 1]
    out = syn.generate(crops, expression=["happy", "sad"], cropped=True)
    grid = syn.grid("me.jpg")                     # uint8 RGB: input | output | sweeps
    fesr = fer_zoo.Synthesizer("fesr-generator")  # decoder only: new identities, no editing
    new = fesr.generate(num=4, seed=0, expression="surprise", intensity=0.5)
    ```
    """

    def __init__(self, model, weights="default", detector=None, crop_fallback_px=96, batch_size=64):
        if isinstance(model, str):
            model = loading.load(model, weights=weights)
        self.model = model
        self.metadata = loading.get_metadata(model)
        self.name = str(self.metadata.get("name") or model.name)
        task = self.metadata.get("task")
        if task not in GENERATIVE_TASKS:
            from fer_zoo.zoo import registry

            generators = [n for t in GENERATIVE_TASKS for n in registry.list_models(task=t)]
            raise ValueError(
                f"Synthesizer needs a generation or normalization model; {self.name!r} is a "
                f"{task!r} model (classifiers go to fer_zoo.Recognizer). Generators: "
                f"{', '.join(generators) or 'none'}."
            )
        self.inputs, self.defaults, self.class_names = parse_controls(model, self.metadata)
        self._by_source = {s: i for i in self.inputs for s in i.sources}
        self.batch_size = int(batch_size)
        if crop_fallback_px is not None and int(crop_fallback_px) < 0:
            raise ValueError(f"crop_fallback_px must be >= 0 or None, got {crop_fallback_px}.")
        self.crop_fallback_px = int(crop_fallback_px or 0)
        self.input_size = tuple(int(v) for v in self.metadata["input_size"])
        self.channels = int(self.metadata["channels"])
        self.detector = self._face_preprocessor(False) if detector is None else detector
        if not callable(self.detector):
            raise TypeError(f"detector must be callable or None, got {detector!r}.")
        self._cropper = self._face_preprocessor(True)

    def _face_preprocessor(self, cropped):
        # As Recognizer._make_detector: the preset's FacePreprocessor options (descriptive keys
        # such as "crop" and "grey" are not options and are left out).
        import inspect

        from fer_zoo.data.preprocessing import FacePreprocessor

        preprocessing = dict(self.metadata.get("preprocessing") or {})
        accepted = set(inspect.signature(FacePreprocessor).parameters) - {"size", "channels"}
        options = {k: v for k, v in preprocessing.items() if k in accepted}
        options.setdefault("margin", 0.15)
        options.setdefault("align", True)
        options["assume_cropped"] = cropped
        return FacePreprocessor(size=self.input_size[0], channels=self.channels, **options)

    # -- what the model takes -------------------------------------------------------------------
    @property
    def controls(self):
        """The controls this model takes, in the order of `CONTROLS`."""
        return tuple(c for c in CONTROLS if c in self._by_source)

    @property
    def takes_faces(self):
        """False for a decoder without encoder: it renders new identities and cannot edit faces."""
        return "face" in self._by_source

    def describe(self):
        """Per control: its encoding, default, and values (`choices`) or `range`."""
        info = {}
        for control in self.controls:
            spec = self._by_source[control]
            entry = {"encoding": spec.encoding, "default": self.defaults.get(control)}
            if control == "expression":
                entry["choices"] = list(self.class_names)
            elif control == "intensity":
                entry["range"] = [0.0, 1.0]
            elif spec.encoding == "bins":
                entry["choices"] = list(spec.values)
                entry["tolerance"] = spec.tolerance
            info[control] = entry
        return info

    def _describe_controls(self):
        return ", ".join(self.controls) if self.controls else "none"

    def _check_supported(self, given):
        unsupported = [c for c in given if c not in self.controls]
        if unsupported:
            if self.controls:
                takes = f"its controls are: {', '.join(self.controls)}"
            else:
                takes = "it takes no controls (face in, normalised face out)"
            raise ValueError(
                f"{self.name} does not take {', '.join(map(repr, unsupported))}; {takes}."
            )

    # -- faces ----------------------------------------------------------------------------------
    @staticmethod
    def _items(faces):
        if isinstance(faces, list | tuple):
            return list(faces)
        if isinstance(faces, np.ndarray) and faces.ndim == 4:
            return list(faces)
        return [faces]

    def align(self, faces, cropped=False, on_no_face="raise"):
        """Detect, align and crop `faces` as `generate` does; an `AlignedFaces`.

        Args:
            faces: what `fer_zoo.Recognizer.predict` takes: a path, encoded bytes, an image
                array, a list of those, or an `(N, H, W, C)` batch.
            cropped: the images are face crops: no detection, resized to the model input.
            on_no_face: `"raise"` (a `ValueError` naming the input) or `"skip"`.
        """
        if on_no_face not in ("raise", "skip"):
            raise ValueError(f"on_no_face must be 'raise' or 'skip', got {on_no_face!r}.")
        if isinstance(faces, AlignedFaces):
            return faces
        if faces is None:
            raise ValueError(f"{self.name} needs faces to edit.")
        items = self._items(faces)
        if not items:
            raise ValueError("No faces given.")
        crops, sources, boxes, flags, indices, skipped = [], [], [], [], [], []
        for index, item in enumerate(items):
            name = source_name(item, index)
            image = read_image(item, name)
            found, whole = self._detect(image, cropped)
            if not found:
                if on_no_face == "skip":
                    skipped.append(name)
                    continue
                raise ValueError(
                    f"No face found in {name} ({image.shape[1]}x{image.shape[0]}); pass cropped=True "
                    "(CLI: --cropped) if it is a face crop already, or on_no_face='skip'."
                )
            box, face = found[0]  # the largest face
            crops.append(self._fit(face))
            sources.append(name)
            boxes.append(tuple(int(v) for v in box))
            flags.append(whole)
            indices.append(index)
        height, width = self.input_size
        images = np.stack(crops) if crops else np.zeros((0, height, width, self.channels), np.float32)
        return AlignedFaces(images.astype(np.float32), sources, boxes, flags,
                            np.asarray(indices, np.int64), skipped, len(items))

    def _detect(self, image, cropped):
        if cropped:
            return list(self._cropper(image)), True
        found = list(self.detector(image))
        if not found and max(image.shape[:2]) <= self.crop_fallback_px:
            return list(self._cropper(image)), True
        return found, False

    def _fit(self, face):
        face = np.asarray(face, np.float32)
        if face.ndim == 2:
            face = face[..., None]
        if face.shape != (*self.input_size, self.channels):
            face = loading.to_model_input([face], dict(self.metadata, input_range=[-1, 1]))[0]
        return face

    # -- controls -------------------------------------------------------------------------------
    def _broadcast(self, control, value, n):
        """`value` as a list of length n (one value for all faces, or one per face)."""
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, list | tuple | np.ndarray):
            values = list(value)
            if len(values) not in (1, n):
                raise ValueError(
                    f"{control}: {len(values)} values for {n} faces; give one value for all or one "
                    "per face."
                )
            return values * n if len(values) == 1 else values
        return [value] * n

    def expression_index(self, value):
        """A class name (case-insensitive) or index -> index; errors list the valid names."""
        k = len(self.class_names)
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            if not 0 <= int(value) < k:
                raise ValueError(f"expression index {value} is out of range 0..{k - 1} "
                                 f"({', '.join(self.class_names)}).")
            return int(value)
        if isinstance(value, str):
            lower = [c.lower() for c in self.class_names]
            if value.strip().lower() in lower:
                return lower.index(value.strip().lower())
        raise ValueError(
            f"Unknown expression {value!r} for {self.name}; valid: {', '.join(self.class_names)} "
            f"(or an index 0..{k - 1})."
        )

    def _number(self, control, value, low=None, high=None):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{control} must be a number, got {value!r}.") from None
        value = float(value)
        if not np.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
            bounds = f" in [{low}, {high}]" if low is not None else ""
            raise ValueError(f"{control} must be a finite number{bounds}, got {value}.")
        spec = self._by_source.get(control)
        if spec is not None and spec.encoding == "bins":
            distance = np.abs(np.asarray(spec.values) - value)
            if distance.min() > spec.tolerance + 1e-6:
                raise ValueError(
                    f"{control}={value:g} is more than {spec.tolerance:g} from every value "
                    f"{self.name} was trained on ({', '.join(f'{v:g}' for v in spec.values)})."
                )
        return value

    def _resolve(self, control, value, n, cropped):
        """Per-face values of `control` (defaults applied), validated."""
        if value is None:
            value = self.defaults.get(control)
        if value is None:
            hint = {"expression_from": "faces whose expression to copy"}.get(control, "a value")
            raise ValueError(f"{self.name} needs {control}=... ({hint}); it has no default.")
        if control == "expression_from":
            aligned = self.align(value, cropped=cropped)
            images = aligned.images
            if len(images) not in (1, n):
                raise ValueError(
                    f"expression_from: {len(images)} faces for {n} faces; give one for all or one "
                    "per face."
                )
            return np.repeat(images, n, axis=0) if len(images) == 1 and n != 1 else images
        values = self._broadcast(control, value, n)
        if control == "expression":
            return np.asarray([self.expression_index(v) for v in values], np.int64)
        if control == "intensity":
            return np.asarray([self._number(control, v, 0.0, 1.0) for v in values], np.float32)
        return np.asarray([self._number(control, v) for v in values], np.float32)

    # -- generation -----------------------------------------------------------------------------
    def _prepare(self, faces, given, cropped, on_no_face, num, seed, latent):
        """`(face images or None, per-face control values, latents or None)`."""
        self._check_supported(given)
        if self.takes_faces:
            extra = [k for k, v in (("num", num), ("seed", seed), ("latent", latent)) if v is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only for decoders that render new "
                                 f"identities; {self.name} edits the faces given.")
            if faces is None:
                raise ValueError(f"{self.name} needs faces to edit.")
            aligned = self.align(faces, cropped=cropped, on_no_face=on_no_face)
            count, keep, images = aligned.count, aligned.indices, aligned.images
        else:
            if faces is not None:
                raise ValueError(
                    f"{self.name} cannot edit a given face: it is a decoder only (no encoder to "
                    "map a face to its latent code). Call generate(num=..., seed=...) for new "
                    "identities, or use a preset whose model includes the encoder (e.g. "
                    "fesr-generator-synthfer when published)."
                )
            count = self._latent_count(num, latent, given)
            keep, images = np.arange(count), None
        # Per input first (one value per face given), then only the faces found.
        values = {control: self._resolve(control, given.get(control), count, cropped)[keep]
                  for control in self.controls}
        latents = None if self.takes_faces else self._latents(count, seed, latent)
        return images, values, latents

    def _latent_count(self, num, latent, given):
        if latent is not None:
            return len(np.asarray(latent))
        if num is not None:
            if int(num) < 1:
                raise ValueError(f"num must be >= 1, got {num}.")
            return int(num)
        lengths = [len(v) for v in given.values() if isinstance(v, list | tuple | np.ndarray)
                   and np.ndim(v) > 0]
        return max(lengths, default=1)

    def _latents(self, n, seed, latent):
        spec = self._by_source["latent"]
        if latent is not None:
            latent = np.asarray(latent, np.float32)
            if latent.shape != (n, spec.size):
                raise ValueError(f"latent must be ({n}, {spec.size}), got {latent.shape}.")
            return latent
        return np.random.default_rng(seed).uniform(spec.low, spec.high, (n, spec.size)).astype(np.float32)

    def generate(self, faces=None, *, expression=None, intensity=None, yaw=None, light=None,
                 expression_from=None, cropped=False, on_no_face="raise", num=None, seed=None,
                 latent=None):
        """The faces with the given controls: `(N, h, w, c)` float32 in [-1, 1].

        Args:
            faces: photos or crops (see `align`), or an `AlignedFaces`; `None` for a decoder
                without encoder (`takes_faces` False), which renders `num` new identities.
            expression, intensity, yaw, light, expression_from: the controls (see the class);
                one value for all faces or one per face.
            cropped: the images (and `expression_from`) are face crops: no detection.
            on_no_face: `"raise"` or `"skip"` (the output then has a row per face found only).
            num, seed, latent: decoders only: how many identities, the seed of their latent
                codes (U(range)), or the codes themselves `(num, size)`.
        """
        given = {k: v for k, v in (("expression", expression), ("intensity", intensity),
                                   ("yaw", yaw), ("light", light),
                                   ("expression_from", expression_from)) if v is not None}
        images, values, latents = self._prepare(faces, given, cropped, on_no_face, num, seed, latent)
        return self._run(images, values, latents)

    def _encode(self, spec, images, values, latents):
        low, high = (float(v) for v in self.metadata.get("input_range", (-1.0, 1.0)))

        def image_range(x):
            return (np.asarray(x, np.float32) + 1.0) / 2.0 * (high - low) + low

        encoding = spec.encoding
        if encoding == "image":
            return image_range(images if spec.sources == ("face",) else values["expression_from"])
        if encoding == "uniform":
            return latents
        if encoding == "intensity_code":
            one_hot = np.eye(spec.size, dtype=np.float32)[values["expression"]]
            return values["intensity"][:, None] * (2.0 * one_hot - 1.0)
        (control,) = spec.sources
        if encoding == "one_hot":
            return np.eye(spec.size, dtype=np.float32)[values[control]]
        if encoding == "bins":
            index = np.abs(values[control][:, None] - np.asarray(spec.values, np.float32)).argmin(axis=1)
            return np.eye(spec.size, dtype=np.float32)[index]
        out = values[control].astype(np.int32 if encoding == "index" else np.float32)
        return out[:, None] if spec.rank == 2 else out

    def _run(self, images, values, latents):
        n = len(images) if images is not None else len(latents)
        if n == 0:
            shape = self.model.outputs[0].shape
            return np.zeros((0, *(int(d) for d in shape[1:])), np.float32)
        inputs = [self._encode(spec, images, values, latents) for spec in self.inputs]
        forward = loading._compiled_forward(self.model)
        chunks = []
        for start in range(0, n, self.batch_size):
            out = forward([np.ascontiguousarray(x[start : start + self.batch_size]) for x in inputs])
            if isinstance(out, dict):
                out = out[self.metadata.get("output_name") or next(iter(out))]
            elif isinstance(out, list | tuple):
                out = out[0]
            chunks.append(np.asarray(out, np.float32))
        out = np.concatenate(chunks)
        low, high = (float(v) for v in self.metadata.get(
            "output_range", self.metadata.get("input_range", (-1.0, 1.0))))
        out = (out - low) / (high - low) * 2.0 - 1.0
        return np.clip(out, -1.0, 1.0).astype(np.float32)

    # -- sweeps and grids -----------------------------------------------------------------------
    def sweep_values(self, control):
        """The default values of a sweep over `control` (all expressions, intensity 0..1, the
        trained yaw/light bins); a `ValueError` when there is none."""
        self._check_supported([control])
        spec = self._by_source[control]
        if control == "expression":
            return list(self.class_names)
        if control == "intensity" and spec.encoding != "bins":
            return list(INTENSITY_SWEEP)
        if spec.encoding == "bins":
            return list(spec.values)
        raise ValueError(f"{control} has no default sweep for {self.name}; pass values=[...].")

    def sweep(self, faces=None, control="expression", values=None, *, cropped=False,
              on_no_face="raise", num=None, seed=None, latent=None, **controls):
        """Every face at each of `values` of `control`, the other controls fixed.

        Returns:
            `(outputs, values)`: outputs `(N, V, h, w, c)` float32 in [-1, 1].
        """
        if control == "expression_from":
            raise ValueError("expression_from cannot be swept; call generate once per source.")
        values = self.sweep_values(control) if values is None else list(values)
        if not values:
            raise ValueError("sweep needs at least one value.")
        controls = {k: v for k, v in controls.items() if v is not None}
        controls.pop(control, None)
        unknown = [k for k in controls if k not in CONTROLS]
        if unknown:
            raise TypeError(f"Unknown control argument(s) {unknown}; controls: {list(CONTROLS)}.")
        images, fixed, latents = self._prepare(faces, controls, cropped, on_no_face, num, seed, latent)
        n, v = len(images) if images is not None else len(latents), len(values)
        swept = self._resolve(control, values, v, cropped)
        repeated = {k: np.repeat(x, v, axis=0) for k, x in fixed.items()}
        repeated[control] = np.tile(swept, n)
        out = self._run(None if images is None else np.repeat(images, v, axis=0), repeated,
                        None if latents is None else np.repeat(latents, v, axis=0))
        return out.reshape(n, v, *out.shape[1:]), values

    def grid(self, faces=None, *, sweeps=None, cell=64, cropped=False, on_no_face="raise",
             num=None, seed=None, latent=None, **controls):
        """A labelled uint8 RGB grid, one row per face: input (and `expression_from` source),
        the output for `controls`, then a sweep over each control in `sweeps` (default: every
        control with a default sweep: expressions, intensity 0..1, the yaw bins).

        Args:
            cell: side in pixels of each image in the grid (nearest-neighbour upscaling).
        """
        controls = {k: v for k, v in controls.items() if v is not None}
        self._check_supported(controls)
        if sweeps is None:
            sweeps = []
            for control in self.controls:
                try:
                    self.sweep_values(control)
                    sweeps.append(control)
                except ValueError:
                    pass
        columns = []  # (group label, [(label, images (n, h, w, c))])
        if self.takes_faces:
            faces = self.align(faces, cropped=cropped, on_no_face=on_no_face)
            columns.append(("input", [("input", faces.images)]))
            if "expression_from" in controls:
                controls["expression_from"] = self.align(controls["expression_from"], cropped=cropped)
                source = self._resolve("expression_from", controls["expression_from"],
                                       len(faces.images), cropped)
                columns.append(("source", [("source", source)]))
        elif latent is None:
            latent = self._latents(self._latent_count(num, None, controls), seed, None)
            num = seed = None
        options = dict(cropped=cropped, num=num, seed=seed, latent=latent)
        columns.append(("output", [("output", self.generate(faces, **options, **controls))]))
        for control in sweeps:
            out, values = self.sweep(faces, control, **options, **controls)
            labels = [_value_label(control, value) for value in values]
            columns.append((control, [(lab, out[:, j]) for j, lab in enumerate(labels)]))
        return _compose_grid(columns, cell)


def _value_label(control, value):
    if control == "expression":
        return str(value)
    if control == "yaw":
        return f"yaw {float(value):g}"
    if control == "intensity":
        return f"i={float(value):g}"
    return f"{control} {value}"


def _compose_grid(columns, cell, gap=6, header=16):
    """Columns of (group, [(label, images)]) -> labelled uint8 RGB grid (rows = faces)."""
    n = len(columns[0][1][0][1])
    count = sum(len(items) for _, items in columns)
    width = count * cell + (len(columns) - 1) * gap
    canvas = np.full((header + n * cell, width, 3), 255, np.uint8)
    x = 0
    scale = max(0.3, cell / 200)
    for _, items in columns:
        for label, images in items:
            tiles = to_uint8(images)
            for row, tile in enumerate(tiles):
                if tile.shape[-1] == 1:
                    tile = np.repeat(tile, 3, axis=-1)
                tile = cv2.resize(tile, (cell, cell), interpolation=cv2.INTER_NEAREST)
                canvas[header + row * cell : header + (row + 1) * cell, x : x + cell] = tile
            text = label
            while len(text) > 1 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > cell - 2:
                text = text[:-1]
            cv2.putText(canvas, text, (x + 1, header - 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (0, 0, 0), 1, cv2.LINE_AA)
            x += cell
        x += gap
    return canvas
