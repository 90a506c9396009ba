"""`Recognizer`: find every face in photos or video and classify its expression."""

import collections
import dataclasses
import inspect
import os
import pathlib
import sys
import time
import warnings

import cv2
import numpy as np

from fer_zoo.zoo import loading

# One colour per class index (RGB), cycled for models with more classes.
_PALETTE = (
    (230, 25, 75), (60, 180, 75), (145, 30, 180), (255, 225, 25),
    (200, 200, 200), (0, 130, 200), (245, 130, 48), (70, 240, 240),
)


@dataclasses.dataclass
class Face:
    """One classified face.

    Attributes:
        box: `(x, y, w, h)` in pixels of the source image.
        label: the most probable class name.
        score: its probability.
        probabilities: dict class name -> probability.
        index: position of the face in its image (largest first).
        cropped: the image was classified as a face crop, without detection (`detector=
            "cropped"`, or a small image in which no face was detected: see `Recognizer`'s
            `crop_fallback_px`); `box` is then the (centred square of the) whole image.
    """

    box: tuple
    label: str
    score: float
    probabilities: dict
    index: int = 0
    cropped: bool = False

    def to_dict(self):
        return {
            "box": [int(v) for v in self.box],
            "label": self.label,
            "score": round(float(self.score), 6),
            "probabilities": {k: round(float(v), 6) for k, v in self.probabilities.items()},
            "cropped": bool(self.cropped),
        }


@dataclasses.dataclass
class ImageResult:
    """The faces found in one photo (or video frame); `no_face` is True when there are none.

    `error` is set (and `faces` empty, `image_size` None, `no_face` False) when the input could
    not be read: `Recognizer.predict(..., on_error="record")`. Iterating over it, `len()` and
    indexing go through `faces`.
    """

    source: str
    faces: list
    image_size: tuple | None
    error: str | None = None

    @property
    def no_face(self):
        return not self.faces and self.error is None

    def __len__(self):
        return len(self.faces)

    def __iter__(self):
        return iter(self.faces)

    def __getitem__(self, index):
        return self.faces[index]

    def to_dict(self):
        record = {
            "source": self.source,
            "image_size": None if self.image_size is None else [int(v) for v in self.image_size],
            "no_face": self.no_face,
            "faces": [face.to_dict() for face in self.faces],
        }
        if self.error is not None:
            record["error"] = self.error
        return record


def read_image(item, name=None):
    """Path, encoded bytes or array -> uint8 RGB `(H, W, 3)`; errors name the input.

    Grey, RGB and RGBA (composited over white), 8- and 16-bit files and arrays are accepted
    (see `fer_zoo.data.preprocessing.decode_image` and `to_uint8_rgb`).
    """
    from fer_zoo.data.preprocessing import decode_image, to_uint8_rgb

    if isinstance(item, bytes | bytearray | memoryview):
        image = decode_image(item)
        if image is None:
            raise ValueError(f"Cannot decode {name or 'image bytes'}: not a JPEG/PNG/BMP image.")
        return image
    if isinstance(item, str | os.PathLike):
        path = pathlib.Path(item)
        if not path.is_file():
            raise FileNotFoundError(f"Image file not found: {path}")
        return to_uint8_rgb(path)  # raises ValueError naming an undecodable file
    if isinstance(item, np.ndarray):
        try:
            return to_uint8_rgb(item)
        except ValueError as error:
            raise ValueError(f"{name or 'image array'}: {error}") from error
    raise TypeError(
        f"{name or 'input'}: expected a path, encoded bytes or a NumPy image, got "
        f"{type(item).__name__}."
    )


def source_name(item, index):
    """How results and errors name input `index`: its path, or `<bytes #i>` / `<array #i>`."""
    if isinstance(item, str | os.PathLike):
        return str(item)
    kind = "bytes" if isinstance(item, bytes | bytearray | memoryview) else "array"
    return f"<{kind} #{index}>"


def _error_text(error, name, prefix=""):
    """One line naming the input and the cause of `error` (for `ImageResult.error`)."""
    message = " ".join(str(error).split()) or type(error).__name__
    message = f"{prefix}{message}"
    return message if name in message else f"{name}: {message}"


class Recognizer:
    """Detects, aligns and classifies every face in photos and videos.

    Faces are found and aligned by `fer_zoo.data.preprocessing.FacePreprocessor` (configured
    from the model's metadata: input size, channels, margin, alignment), and all faces of a
    batch of photos are classified in one batched model call. An image no larger than a face
    crop (`crop_fallback_px`) in which no face is detected is classified whole, as a face crop
    (its `Face.cropped` is True), instead of being reported as `no_face`.

    Args:
        model: a registered model name (see `fer_zoo.list_models()`), a `keras.Model` made by
            `fer_zoo.load` (its `fer_zoo_metadata` gives class names and input format), or
            `None` for `fer_zoo.DEFAULT_MODEL` (the general-purpose `fer-general`).
        detector: `None` (a `FacePreprocessor` matching the model), `"cropped"` (inputs are face
            crops already: resize only), a `FacePreprocessor`, or any callable
            `image_rgb_uint8 -> [(box, face), ...]` with `face` float in [-1, 1].
        weights: weights for a model given by name (see `fer_zoo.load`).
        batch_size: faces per model call when there are very many.
        runtime: `"auto"` (default: calls with at most 8 faces run through a TFLite copy of
            the model, converted on first use, whose per-call overhead is about half of
            TensorFlow's; larger batches through TensorFlow, whose multi-threaded kernels win
            there; TensorFlow throughout if the conversion fails), `"tf"`, `"tflite"` (float32)
            or `"tflite-int8"` (dynamic-range int8 weights, ~4x faster per call than float32
            TFLite). "auto" uses the int8 copy for presets whose metadata has
            `"tflite_weights": "int8"` (measured to keep their accuracy: fer-general).
        crop_fallback_px: an image whose longer side is at most this many pixels (a face crop
            such as FER2013's 48x48) and in which the detector finds no face is resized to the
            model input as with `detector="cropped"` and classified as one face, marked
            `cropped`, with the image's centred square as its box. In such an image the
            default detector skips its profile passes: a crop the frontal cascades miss is
            read whole (on 800 FER2013 PublicTest crops the profile passes "found" a face in
            44 more crops and cost 0.5 points). `None` or 0: such images give
            `no_face` like any other. Default 96. Photos only: video frames are never
            classified whole.

    Example:
    ```python
    recognizer = fer_zoo.Recognizer()          # fer_zoo.DEFAULT_MODEL; or a name, e.g. "gasca2"
    result = recognizer.predict("group.jpg")
    for face in result:
        print(face.box, face.label, face.score)
    annotated = recognizer.annotate("group.jpg", result)       # RGB uint8 array
    recognizer.predict_video("clip.mp4", "clip_annotated.mp4", every_n=2)
    ```

    Reference:
        The classifiers come from the fer_zoo recipes (GASCA, JPEM, FESR, REL-GAN); see
        `fer_zoo.model_info(name)["paper"]`.
    """

    SMALL_BATCH = 8  # faces per call up to which runtime="auto" uses TFLite

    def __init__(self, model=None, detector=None, weights="default", batch_size=64, runtime="auto",
                 crop_fallback_px=96):
        if model is None:
            from fer_zoo.zoo.registry import DEFAULT_MODEL

            model = DEFAULT_MODEL
        if isinstance(model, str):
            model = loading.load(model, weights=weights)
        self.model = model
        self.metadata = loading.get_metadata(model)
        if self.metadata.get("task") != "classification":
            raise ValueError(
                f"Recognizer needs an expression classifier; {self.metadata.get('name', model.name)!r} "
                f"is a {self.metadata.get('task')!r} model."
            )
        self.class_names = [str(c) for c in self.metadata["class_names"]]
        self.batch_size = int(batch_size)
        if runtime != "auto" and runtime not in loading.RUNTIMES:
            raise ValueError(f"runtime must be 'auto' or one of {loading.RUNTIMES}, got {runtime!r}.")
        self.runtime = runtime
        self._tflite_failed = False
        if crop_fallback_px is not None and int(crop_fallback_px) < 0:
            raise ValueError(f"crop_fallback_px must be >= 0 or None, got {crop_fallback_px}.")
        self.crop_fallback_px = int(crop_fallback_px or 0)
        self.detector = self._make_detector(detector)
        from fer_zoo.data.preprocessing import FacePreprocessor

        # Crop mode: every image is a face crop (detector="cropped" or such a FacePreprocessor).
        self._crop_mode = isinstance(self.detector, FacePreprocessor) and self.detector.assume_cropped
        self._cropper = self.detector if self._crop_mode else None
        # Face-crop-sized images (see `crop_fallback_px`): the same detector without the profile
        # stage, whose sub-window "profiles" inside a frontal crop read worse than the whole crop.
        self._small_detector = None
        if (isinstance(self.detector, FacePreprocessor) and not self._crop_mode and self.crop_fallback_px
                and "profile" in self.detector.detectors):
            config = self.detector.get_config()
            config["detectors"] = [d for d in config["detectors"] if d != "profile"] or ["frontal"]
            self._small_detector = FacePreprocessor.from_config(config)

    def _make_detector(self, detector):
        from fer_zoo.data.preprocessing import FacePreprocessor

        if detector is not None and detector != "cropped":
            if not callable(detector):
                raise TypeError(f"detector must be callable, 'cropped' or None, got {detector!r}.")
            return detector
        preprocessing = dict(self.metadata.get("preprocessing") or {})
        # Any other FacePreprocessor option the preset records (detectors, eye_y, ...) applies
        # too; descriptive keys ("crop", "grey") are not options and are left out.
        accepted = set(inspect.signature(FacePreprocessor).parameters) - {"size", "channels"}
        options = {k: v for k, v in preprocessing.items() if k in accepted}
        options.setdefault("margin", 0.15)
        options.setdefault("align", True)
        options["assume_cropped"] = detector == "cropped"
        return FacePreprocessor(
            size=int(self.metadata["input_size"][0]),
            channels=int(self.metadata["channels"]),
            **options,
        )

    # -- photos -------------------------------------------------------------------------------
    def predict(self, inputs, on_error="raise"):
        """Classify every face in one photo or a list of photos.

        Args:
            inputs: a path, encoded image bytes, a NumPy image (`(H, W)`, `(H, W, 1)` grey,
                `(H, W, 3)` RGB or `(H, W, 4)` RGBA; uint8, uint16, or float in [0, 1] /
                [-1, 1]), a list of those, or an array `(N, H, W, C)`. Files may be 8- or 16-bit,
                grey or colour; RGBA arrays and PNGs with transparency are composited over white.
            on_error: `"raise"` (default): the first unreadable input (missing file, undecodable
                bytes, bad array) raises, naming it. `"record"`: it gets an `ImageResult` whose
                `error` names the input and the cause (`faces` empty, `no_face` False,
                `image_size` None), and every other input is still classified.

        Returns:
            An `ImageResult` for a single input, a list of them (one per input, in order) for a
            list/batch. A photo without a face gives an `ImageResult` with empty `faces` and
            `no_face=True`; a small image without a detectable face is classified whole (see
            `crop_fallback_px`).
        """
        if on_error not in ("raise", "record"):
            raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}.")
        single = not (
            isinstance(inputs, list | tuple) or (isinstance(inputs, np.ndarray) and inputs.ndim == 4)
        )
        items = [inputs] if single else list(inputs)
        names = [source_name(item, i) for i, item in enumerate(items)]
        images, errors = [], []
        for item, name in zip(items, names):
            try:
                images.append(read_image(item, name))
                errors.append(None)
            except (OSError, ValueError, TypeError, cv2.error) as error:
                if on_error == "raise":
                    raise
                images.append(None)
                errors.append(_error_text(error, name))
        results = self._predict_images(images, names, errors, on_error)
        return results[0] if single else results

    def _runtime_for(self, faces):
        if self.runtime != "auto":
            return self.runtime
        if faces > self.SMALL_BATCH or self._tflite_failed:
            return "tf"
        weights = "int8" if self.metadata.get("tflite_weights") == "int8" else "float32"
        try:
            loading.tflite_forward(self.model, weights)
        except Exception as error:  # unsupported ops, several outputs, ...: keep TensorFlow
            self._tflite_failed = True
            warnings.warn(f"Recognizer: TFLite conversion of {self.model.name} failed ({error}); "
                          "using TensorFlow.", stacklevel=3)
            return "tf"
        return "tflite-int8" if weights == "int8" else "tflite"

    def _detect(self, image, crop_fallback=True):
        """`([(box, face), ...], cropped)` for one uint8 RGB image (see `crop_fallback_px`)."""
        if self._crop_mode:
            return list(self.detector(image)), True
        small = max(image.shape[:2]) <= self.crop_fallback_px
        detector = self.detector
        if small and crop_fallback and self._small_detector is not None:
            detector = self._small_detector
        found = list(detector(image))
        if not found and crop_fallback and small:
            if self._cropper is None:
                self._cropper = self._make_detector("cropped")
            return list(self._cropper(image)), True
        return found, False

    def _predict_images(self, images, names, errors=None, on_error="raise", crop_fallback=True):
        errors = [None] * len(images) if errors is None else list(errors)
        detections = []
        for i, (image, name) in enumerate(zip(images, names)):
            found, cropped = [], False
            if errors[i] is None:
                try:
                    found, cropped = self._detect(image, crop_fallback)
                except Exception as error:  # one bad image must not lose the batch ("record")
                    if on_error == "raise":
                        raise
                    errors[i] = _error_text(error, name, "face detection failed: ")
            detections.append((found, cropped))
        faces = [face for found, _ in detections for _, face in found]
        probabilities = loading.predict_probabilities(
            self.model,
            loading.to_model_input(faces, self.metadata),
            self.metadata,
            batch_size=self.batch_size,
            runtime=self._runtime_for(len(faces)),
        ) if faces else []
        results, row = [], 0
        for image, name, (found, cropped), error in zip(images, names, detections, errors):
            if error is not None:
                results.append(ImageResult(name, [], None, error=error))
                continue
            image_faces = []
            for index, (box, _) in enumerate(found):
                p = probabilities[row]
                row += 1
                best = int(np.argmax(p))
                image_faces.append(
                    Face(
                        box=tuple(int(v) for v in box),
                        label=self.class_names[best],
                        score=float(p[best]),
                        probabilities=dict(zip(self.class_names, map(float, p))),
                        index=index,
                        cropped=cropped,
                    )
                )
            results.append(ImageResult(name, image_faces, tuple(image.shape[:2])))
        return results

    def annotate(self, image, results):
        """A copy of `image` (uint8 RGB) with each face's box and `label score` drawn on it.

        Args:
            image: anything `predict` accepts (one image).
            results: the `ImageResult` (or list of `Face`) for that image.
        """
        canvas = read_image(image).copy()
        faces = results.faces if isinstance(results, ImageResult) else list(results)
        thickness = max(1, round(min(canvas.shape[:2]) / 300))
        scale = max(0.35, min(canvas.shape[:2]) / 800)
        for face in faces:
            x, y, w, h = face.box
            index = self.class_names.index(face.label) if face.label in self.class_names else 0
            colour = _PALETTE[index % len(_PALETTE)]
            cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness)
            text = f"{face.label} {face.score:.2f}"
            (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
            top = y - th - baseline - 2 if y - th - baseline - 2 >= 0 else y + h
            cv2.rectangle(canvas, (x, top), (x + tw + 2, top + th + baseline + 2), colour, -1)
            cv2.putText(
                canvas, text, (x + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0), thickness, cv2.LINE_AA,
            )
        return canvas

    # -- video ----------------------------------------------------------------------------------
    def predict_video(self, input, out_path, every_n=1, progress=True, max_frames=None,
                      batch_frames=8):
        """Annotate a video file or camera stream and write it as an mp4 (codec mp4v).

        Args:
            input: a video file path or a camera index (int).
            out_path: the annotated `.mp4` to write.
            every_n: analyse every n-th frame; the frames in between reuse the last result.
            progress: print a progress line to stderr.
            max_frames: stop after this many frames (needed to end a camera stream other than
                by Ctrl-C).
            batch_frames: analysed frames whose faces go through the model together.

        Returns:
            dict with `out_path`, `frames`, `analysed_frames`, `faces` (detections summed over
            analysed frames), `frames_without_face`, `fps` and `label_counts`.
        """
        if every_n < 1:
            raise ValueError(f"every_n must be >= 1, got {every_n}.")
        if isinstance(input, str | os.PathLike) and not pathlib.Path(input).is_file():
            raise FileNotFoundError(f"Video file not found: {input}")
        capture = cv2.VideoCapture(input if isinstance(input, int) else str(input))
        if not capture.isOpened():
            raise ValueError(f"Cannot open video {input!r} (unsupported file or no such camera).")
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        if max_frames is not None:
            total = min(total or max_frames, max_frames)
        writer = None
        stats = {"frames": 0, "analysed_frames": 0, "faces": 0, "frames_without_face": 0}
        label_counts = collections.Counter()
        pending, last_result, last_print = [], None, 0.0

        def flush():
            nonlocal writer, last_result
            analysed = [frame for frame, analyse in pending if analyse]
            # A (tiny) frame without a face is no face: the crop fallback is for photos.
            results = iter(self._predict_images(
                analysed, [f"frame {stats['frames'] + i}" for i in range(len(analysed))],
                crop_fallback=False,
            ))
            for frame, analyse in pending:
                if analyse:
                    last_result = next(results)
                    stats["analysed_frames"] += 1
                    stats["faces"] += len(last_result.faces)
                    stats["frames_without_face"] += last_result.no_face
                    label_counts.update(face.label for face in last_result.faces)
                annotated = self.annotate(frame, last_result) if last_result else frame
                if writer is None:
                    height, width = frame.shape[:2]
                    pathlib.Path(out_path).parent.mkdir(parents=True, exist_ok=True)
                    writer = cv2.VideoWriter(
                        str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height)
                    )
                    if not writer.isOpened():
                        raise OSError(f"Cannot write video {out_path} (mp4v codec unavailable?).")
                writer.write(cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
                stats["frames"] += 1
            pending.clear()

        try:
            index = 0
            while max_frames is None or index < max_frames:
                ok, frame = capture.read()
                if not ok:
                    break
                pending.append((cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), index % every_n == 0))
                index += 1
                if sum(analyse for _, analyse in pending) >= batch_frames:
                    flush()
                if progress and time.monotonic() - last_print > 1.0:
                    last_print = time.monotonic()
                    print(f"\r{input}: frame {index}/{total or '?'}", end="", file=sys.stderr)
        except KeyboardInterrupt:  # a camera stream ends with Ctrl-C; keep what was recorded
            pass
        finally:
            try:
                if pending:
                    flush()
            finally:
                capture.release()
                if writer is not None:
                    writer.release()
        if progress:
            print(f"\r{input}: {stats['frames']} frames -> {out_path}", file=sys.stderr)
        if stats["frames"] == 0:
            raise ValueError(f"Video {input!r} has no readable frames.")
        return dict(stats, out_path=str(out_path), fps=fps, label_counts=dict(label_counts))
