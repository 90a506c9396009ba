"""The model zoo: registered presets, verified loading, export for serving, face recognition.

Example:
```python
from fer_zoo import zoo
zoo.list_models()
model = zoo.load("gasca2")
zoo.export(model, "serving/", name="gasca2")
results = zoo.Recognizer("gasca2").predict("group_photo.jpg")
faces = zoo.Synthesizer("jpem-generator").generate("me.jpg", expression="happy", yaw=0.0)
```
"""

from fer_zoo.zoo.export import export
from fer_zoo.zoo.loading import load
from fer_zoo.zoo.recognizer import Face, ImageResult, Recognizer
from fer_zoo.zoo.registry import (
    list_models,
    model_info,
    register_architecture,
    register_module,
    register_preset,
)
from fer_zoo.zoo.synthesizer import Synthesizer

__all__ = [
    "Face",
    "ImageResult",
    "Recognizer",
    "Synthesizer",
    "export",
    "list_models",
    "load",
    "model_info",
    "register_architecture",
    "register_module",
    "register_preset",
]
