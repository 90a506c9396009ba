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
    """

    box: tuple
    label: str
    score: float
    probabilities: dict
    index: int = 0

    def to_dict(self):
        return {
            "box": [int(v) for v in self.box],
            "label": self.label,
            "score": round(float(self.score), 6),
            "probabilities": {k: round(float(v), 6) for k, v in self.probabilities.items()},
        }


@dataclasses.dataclass
class ImageResult:
    """The faces found in one photo (or video frame); `no_face` is True when there are none.

    Iterating over it, `len()` and indexing go through `faces`.
    """

    source: str
    faces: list
    image_size: tuple

    @property
    def no_face(self):
        return not self.faces

    def __len__(self):
        return len(self.faces)

    def __iter__(self):
        return iter(self.faces)

    def __getitem__(self, index):
        return self.faces[index]

    def to_dict(self):
        return {
            "source": self.source,
            "image_size": [int(v) for v in self.image_size],
            "no_face": self.no_face,
            "faces": [face.to_dict() for face in self.faces],
        }


def read_image(item, name=None):
    """Path, encoded bytes or array -> uint8 RGB `(H, W, 3)`; errors name the input."""
    from fer_zoo.data.preprocessing import to_uint8_rgb

    if isinstance(item, bytes | bytearray | memoryview):
        data = np.frombuffer(item, dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            raise ValueError(f"Cannot decode {name or 'image bytes'}: not a JPEG/PNG/BMP image.")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if isinstance(item, str | os.PathLike):
        path = pathlib.Path(item)
        if not path.is_file():
            raise FileNotFoundError(f"Image file not found: {path}")
        return to_uint8_rgb(path)  # raises ValueError naming an undecodable file
    if isinstance(item, np.ndarray):
        if item.ndim == 3 and item.shape[-1] == 4:
            item = item[..., :3]  # RGBA: drop alpha
        try:
            return to_uint8_rgb(item)
        except ValueError as error:
            raise ValueError(f"{name or 'image array'}: {error}") from error
    raise TypeError(
        f"{name or 'input'}: expected a path, encoded bytes or a NumPy image, got "
        f"{type(item).__name__}."
    )


class Recognizer:
    """Detects, aligns and classifies every face in photos and videos.

    Faces are found and aligned by `fer_zoo.data.preprocessing.FacePreprocessor` (configured
    from the model's metadata: input size, channels, margin, alignment), and all faces of a
    batch of photos are classified in one batched model call.

    Args:
        model: a registered model name (see `fer_zoo.list_models()`) or a `keras.Model` made by
            `fer_zoo.load` (its `fer_zoo_metadata` gives class names and input format).
        detector: `None` (a `FacePreprocessor` matching the model), `"cropped"` (inputs are face
            crops already: resize only), a `FacePreprocessor`, or any callable
            `image_rgb_uint8 -> [(box, face), ...]` with `face` float in [-1, 1].
        weights: weights for a model given by name (see `fer_zoo.load`).
        batch_size: faces per model call when there are very many.
        runtime: `"auto"` (default: calls with at most 8 faces run through a TFLite copy of
            the model, converted on first use, whose per-call overhead is about half of
            TensorFlow's; larger batches through TensorFlow, whose multi-threaded kernels win
            there; TensorFlow throughout if the conversion fails), `"tf"` or `"tflite"`.

    Example:
    ```python
    recognizer = fer_zoo.Recognizer("gasca2")
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

    def __init__(self, model="gasca2", detector=None, weights="default", batch_size=64, runtime="auto"):
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
        if runtime not in ("auto", "tf", "tflite"):
            raise ValueError(f"runtime must be 'auto', 'tf' or 'tflite', got {runtime!r}.")
        self.runtime = runtime
        self._tflite_failed = False
        self.detector = self._make_detector(detector)

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
    def predict(self, inputs):
        """Classify every face in one photo or a list of photos.

        Args:
            inputs: a path, encoded image bytes, a NumPy image (`(H, W)`, `(H, W, 1)` or
                `(H, W, 3)` RGB; uint8, or float in [0, 1] / [-1, 1]), a list of those, or an
                array `(N, H, W, C)`.

        Returns:
            An `ImageResult` for a single input, a list of them for a list/batch. A photo without
            a face gives an `ImageResult` with empty `faces` and `no_face=True`.
        """
        single = not (
            isinstance(inputs, list | tuple) or (isinstance(inputs, np.ndarray) and inputs.ndim == 4)
        )
        items = [inputs] if single else list(inputs)
        names = [self._source_name(item, i) for i, item in enumerate(items)]
        images = [read_image(item, name) for item, name in zip(items, names)]
        results = self._predict_images(images, names)
        return results[0] if single else results

    def _runtime_for(self, faces):
        if self.runtime != "auto":
            return self.runtime
        if faces > self.SMALL_BATCH or self._tflite_failed:
            return "tf"
        try:
            loading.tflite_forward(self.model)
        except Exception as error:  # unsupported ops, several outputs, ...: keep TensorFlow
            self._tflite_failed = True
            warnings.warn(f"Recognizer: TFLite conversion of {self.model.name} failed ({error}); "
                          "using TensorFlow.", stacklevel=3)
            return "tf"
        return "tflite"

    @staticmethod
    def _source_name(item, index):
        if isinstance(item, str | os.PathLike):
            return str(item)
        kind = "bytes" if isinstance(item, bytes | bytearray | memoryview) else "array"
        return f"<{kind} #{index}>"

    def _predict_images(self, images, names):
        detections = [self.detector(image) for image in images]
        faces = [face for found in detections for _, face in found]
        probabilities = loading.predict_probabilities(
            self.model,
            loading.to_model_input(faces, self.metadata) if faces else [],
            self.metadata,
            batch_size=self.batch_size,
            runtime=self._runtime_for(len(faces)),
        )
        results, row = [], 0
        for image, name, found in zip(images, names, detections):
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
            results = iter(self._predict_images(
                analysed, [f"frame {stats['frames'] + i}" for i in range(len(analysed))]
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
