"""fer_zoo.data: face sets, data set adapters, preprocessing, protocols, pairing and tf.data.

Example:
```python
import fer_zoo.data as data
faces = data.load_faceset("kdef:/data/KDEF", image_size=64, channels=1)   # FaceSet
train = data.load("kdef:/data/KDEF", split="train", batch_size=32)        # tf.data
toy = data.synthetic(batch_size=8, identities=range(4), yaws=(-45, 0, 45))
```
"""

from fer_zoo.data.faceset import EXPRESSIONS, FLOAT_LABELS, INT_LABELS, FaceSet

# Lazily imported so that `import fer_zoo.data` stays light (no TensorFlow / OpenCV start-up).
_LAZY = {
    "load": "fer_zoo.data.pipeline",
    "load_faceset": "fer_zoo.data.pipeline",
    "synthetic": "fer_zoo.data.pipeline",
    "to_dataset": "fer_zoo.data.pipeline",
    "parse_spec": "fer_zoo.data.pipeline",
    "split_indices": "fer_zoo.data.pipeline",
    "FacePreprocessor": "fer_zoo.data.preprocessing",
    "relative_luminance": "fer_zoo.data.preprocessing",
    "closest_to_mean_luminance": "fer_zoo.data.preprocessing",
    "ADAPTERS": "fer_zoo.data.adapters",
    "LayoutError": "fer_zoo.data.adapters",
}
_MODULES = (
    "adapters",
    "augment",
    "pairing",
    "pipeline",
    "preprocessing",
    "preview",
    "protocols",
    "synthfer",
)


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _MODULES:
        return importlib.import_module(f"fer_zoo.data.{name}")
    raise AttributeError(f"module 'fer_zoo.data' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY) + list(_MODULES))


__all__ = ["EXPRESSIONS", "FLOAT_LABELS", "INT_LABELS", "FaceSet", *_LAZY]
