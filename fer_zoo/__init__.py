"""fer_zoo: pose- and illumination-invariant facial expression recognition with GANs (Keras 3).

Example:
```python
import fer_zoo
fer_zoo.list_models()
for face in fer_zoo.Recognizer().predict("photo.jpg"):    # fer_zoo.DEFAULT_MODEL
    print(face.box, face.label, face.score)
model = fer_zoo.load("gasca2")
```
"""

__version__ = "0.1.0"

_LAZY = {
    "list_models": "fer_zoo.zoo",
    "load": "fer_zoo.zoo",
    "model_info": "fer_zoo.zoo",
    "export": "fer_zoo.zoo",
    "Recognizer": "fer_zoo.zoo",
    "Synthesizer": "fer_zoo.zoo",
    "DEFAULT_MODEL": "fer_zoo.zoo.registry",
}


def __getattr__(name):
    # Lazy so `import fer_zoo` stays cheap and does not import TensorFlow until needed.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fer_zoo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
