"""`FaceSet`: the in-memory face collection every adapter returns and every recipe consumes."""

import dataclasses
import pathlib

import numpy as np

EXPRESSIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")

# Label keys a FaceSet may carry; absent information is -1 (ints) or NaN (floats).
INT_LABELS = ("expression", "identity", "session", "illumination", "sequence", "frame", "split")
FLOAT_LABELS = ("yaw", "pitch", "intensity", "light_azimuth", "light_elevation", "light_strength")


@dataclasses.dataclass
class FaceSet:
    """Images plus aligned label arrays.

    Args:
        images: float32 array `(N, H, W, C)` scaled to [-1, 1].
        labels: dict of 1-D arrays of length N (keys from `INT_LABELS` / `FLOAT_LABELS`,
            others allowed).
        class_names: expression class names, index = label value.
        name: data set name (for reports and model cards).
        paths: optional source file of each image (for error messages and reports).
    """

    images: np.ndarray
    labels: dict
    class_names: tuple = EXPRESSIONS
    name: str = "faces"
    paths: np.ndarray | None = None

    def __post_init__(self):
        self.images = np.asarray(self.images, dtype=np.float32)
        if self.images.ndim != 4:
            raise ValueError(f"FaceSet {self.name!r}: images must be (N,H,W,C), got {self.images.shape}.")
        n = len(self.images)
        for key, value in list(self.labels.items()):
            value = np.asarray(value)
            if len(value) != n:
                raise ValueError(
                    f"FaceSet {self.name!r}: label {key!r} has {len(value)} entries for {n} images."
                )
            self.labels[key] = value

    def __len__(self):
        return len(self.images)

    @property
    def image_shape(self):
        return self.images.shape[1:]

    def subset(self, index):
        """A new FaceSet with the rows selected by `index` (bool mask or integer indices)."""
        index = np.asarray(index)
        return FaceSet(
            self.images[index],
            {k: v[index] for k, v in self.labels.items()},
            self.class_names,
            self.name,
            None if self.paths is None else np.asarray(self.paths)[index],
        )

    def save(self, path):
        """Cache to a compressed `.npz` (no pickles: plain arrays only)."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"label__{k}": v for k, v in self.labels.items()}
        if self.paths is not None:
            arrays["paths"] = np.asarray(self.paths, dtype=str)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(
            tmp,
            images=self.images,
            class_names=np.asarray(self.class_names, dtype=str),
            name=np.asarray(self.name),
            **arrays,
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as z:
            labels = {k[len("label__"):]: z[k] for k in z.files if k.startswith("label__")}
            return cls(
                z["images"],
                labels,
                tuple(str(c) for c in z["class_names"]),
                str(z["name"]),
                z["paths"] if "paths" in z.files else None,
            )
