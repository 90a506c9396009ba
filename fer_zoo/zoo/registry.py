"""Preset registry: which models `fer_zoo.load(name)` can build, and what is known about them.

Each recipe's `fer_zoo/recipes/<paper>/presets.py` defines two plain dicts (see
docs/architecture.md, "Registry contract"):

```python
ARCHITECTURES = {"gasca_classifier": build_classifier}     # key -> builder returning a keras.Model
PRESETS = {
    "gasca2": {
        "architecture": "gasca_classifier",
        "config": {"input_size": 64, "channels": 1},        # builder kwargs
        "weights": "gasca2.weights.h5",                     # file in fer_zoo/zoo/weights/, URL, or None
        "sha256": "<hex digest of that file>",
        "metadata": {"task": "classification", "input_size": [64, 64], "channels": 1,
                     "class_names": [...], "input_range": [-1, 1], ...},
    },
}
```

The registry imports those modules on first use. Extra presets (your own fine-tuned models, test
fixtures) are added with `register_architecture` / `register_preset` or `register_module`.
"""

import copy
import difflib
import importlib
import os
import pathlib
import threading

RECIPE_PRESET_MODULES = tuple(
    f"fer_zoo.recipes.{family}.presets" for family in ("general", "gasca", "jpem", "fesr", "relgan")
)
# What `fer_zoo.Recognizer()` and the README use when no model is named: the general-purpose
# classifier trained on FER2013 + KDEF (fer_zoo/recipes/general).
DEFAULT_MODEL = "fer-general"
ZOO_DIR = pathlib.Path(__file__).resolve().parent
WEIGHTS_DIR = ZOO_DIR / "weights"
CARDS_DIR = ZOO_DIR / "cards"
# Comma-separated modules with ARCHITECTURES/PRESETS dicts of your own (e.g. fine-tuned models),
# imported alongside the recipes' presets so `fer-zoo` commands see them too.
EXTRA_PRESETS_ENV = "FER_ZOO_EXTRA_PRESETS"

TASKS = ("classification", "generation", "normalization")
PRESET_KEYS = ("architecture", "config", "weights", "sha256", "metadata")
# Metadata keys `load`, `export` and `Recognizer` rely on (the rest are descriptive).
REQUIRED_METADATA = ("task", "input_size", "channels", "input_range")

_ARCHITECTURES = {}
_PRESETS = {}
_SOURCES = {}  # preset/architecture name -> module (or "user") that registered it
_collected = False
_lock = threading.RLock()


class UnknownModelError(KeyError):
    """Raised for a model name that is neither a preset nor an architecture."""

    def __str__(self):
        return str(self.args[0])


def _validate_preset(name, preset, architectures):
    if not isinstance(preset, dict):
        raise TypeError(f"Preset {name!r} must be a dict, got {type(preset).__name__}.")
    missing = [key for key in PRESET_KEYS if key not in preset]
    if missing:
        raise ValueError(
            f"Preset {name!r} is missing {missing}; a preset needs the keys {list(PRESET_KEYS)}."
        )
    if preset["architecture"] not in architectures:
        raise ValueError(
            f"Preset {name!r} uses architecture {preset['architecture']!r}, which is not "
            f"registered. Registered architectures: {sorted(architectures)}."
        )
    if not isinstance(preset["config"], dict):
        raise TypeError(f"Preset {name!r}: 'config' must be a dict of builder kwargs.")
    if preset["weights"] is not None and not preset["sha256"]:
        raise ValueError(f"Preset {name!r} names weights {preset['weights']!r} without a sha256.")
    metadata = preset["metadata"]
    if not isinstance(metadata, dict):
        raise TypeError(f"Preset {name!r}: 'metadata' must be a dict.")
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"Preset {name!r}: metadata is missing {missing}.")
    if metadata["task"] not in TASKS:
        raise ValueError(
            f"Preset {name!r}: metadata task {metadata['task']!r} is not one of {TASKS}."
        )
    if metadata["task"] == "classification" and not metadata.get("class_names"):
        raise ValueError(f"Preset {name!r}: a classification preset needs metadata 'class_names'.")


def register_architecture(key, builder, overwrite=False, source="user"):
    """Make `builder` (kwargs -> functional `keras.Model`) available under `key`."""
    if not callable(builder):
        raise TypeError(f"Architecture {key!r}: builder must be callable, got {builder!r}.")
    with _lock:
        if key in _ARCHITECTURES and not overwrite and _ARCHITECTURES[key] is not builder:
            raise ValueError(
                f"Architecture {key!r} is already registered by {_SOURCES.get(('arch', key))}."
            )
        _ARCHITECTURES[key] = builder
        _SOURCES[("arch", key)] = source


def register_preset(name, preset, overwrite=False, source="user"):
    """Register `preset` (a dict following the registry contract) under `name`."""
    _collect()
    with _lock:
        _validate_preset(name, preset, _ARCHITECTURES)
        if name in _PRESETS and not overwrite:
            raise ValueError(
                f"Preset {name!r} is already registered by {_SOURCES.get(('preset', name))}."
            )
        _PRESETS[name] = copy.deepcopy(preset)
        _SOURCES[("preset", name)] = source


def register_module(module, overwrite=False):
    """Register the `ARCHITECTURES` and `PRESETS` dicts of a module (or any object having them)."""
    source = getattr(module, "__name__", repr(module))
    architectures = getattr(module, "ARCHITECTURES", {})
    presets = getattr(module, "PRESETS", {})
    if not isinstance(architectures, dict) or not isinstance(presets, dict):
        raise TypeError(f"{source}: ARCHITECTURES and PRESETS must be dicts.")
    with _lock:
        for key, builder in architectures.items():
            register_architecture(key, builder, overwrite=overwrite, source=source)
        for name, preset in presets.items():
            register_preset(name, preset, overwrite=overwrite, source=source)


def unregister(name):
    """Remove a preset or architecture registered under `name` (used by tests and notebooks)."""
    with _lock:
        _PRESETS.pop(name, None)
        _ARCHITECTURES.pop(name, None)
        _SOURCES.pop(("preset", name), None)
        _SOURCES.pop(("arch", name), None)


def _collect():
    global _collected
    if _collected:
        return
    with _lock:
        if _collected:
            return
        _collected = True  # set first: register_preset below calls back into _collect
        try:
            for module_name in RECIPE_PRESET_MODULES:
                try:
                    module = importlib.import_module(module_name)
                except ModuleNotFoundError as error:
                    # Only a recipe that has no presets module yet is skipped; a missing
                    # dependency *inside* a presets module is a real error and propagates.
                    if error.name != module_name:
                        error.add_note(f"while importing the presets module {module_name}")
                        raise
                    continue
                except Exception as error:
                    error.add_note(f"while importing the presets module {module_name}")
                    raise
                register_module(module)
            extra = os.environ.get(EXTRA_PRESETS_ENV, "")
            for module_name in filter(None, (m.strip() for m in extra.split(","))):
                try:
                    module = importlib.import_module(module_name)
                except ImportError as error:
                    raise ImportError(
                        f"{EXTRA_PRESETS_ENV} names {module_name!r}, which cannot be imported: "
                        f"{error}"
                    ) from error
                register_module(module)
        except BaseException:
            _collected = False
            raise


def architectures():
    """Sorted names of the registered architectures (builders)."""
    _collect()
    return sorted(_ARCHITECTURES)


def presets():
    """Sorted names of the registered presets."""
    _collect()
    return sorted(_PRESETS)


def list_models(task=None, include_architectures=False):
    """Names accepted by `fer_zoo.load`.

    Args:
        task: optional filter, one of `"classification"`, `"generation"`, `"normalization"`.
        include_architectures: also list the bare architectures (random init only, unless you
            pass your own `weights=`).

    Returns:
        A sorted list of preset names (followed by architecture names when requested).

    Example:
    ```python
    fer_zoo.list_models()                      # ["fesr_...", "gasca2", ...]
    fer_zoo.list_models(task="classification")
    ```
    """
    _collect()
    if task is not None and task not in TASKS:
        raise ValueError(f"Unknown task {task!r}. Tasks: {', '.join(TASKS)}.")
    names = sorted(
        name for name, preset in _PRESETS.items()
        if task is None or preset["metadata"]["task"] == task
    )
    if include_architectures:
        names += [key for key in sorted(_ARCHITECTURES) if key not in _PRESETS]
    return names


def _unknown(name):
    available = presets()
    close = difflib.get_close_matches(str(name), available + architectures(), n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return UnknownModelError(
        f"Unknown model {name!r}.{hint} Available presets: "
        f"{', '.join(available) or '(none registered)'}; architectures: "
        f"{', '.join(architectures()) or '(none)'}."
    )


def get_preset(name):
    """A deep copy of the preset dict `name`; an architecture name gives a preset without weights."""
    _collect()
    if not isinstance(name, str):
        raise TypeError(f"Model name must be a string, got {type(name).__name__}.")
    if name in _PRESETS:
        return copy.deepcopy(_PRESETS[name])
    if name in _ARCHITECTURES:
        return {"architecture": name, "config": {}, "weights": None, "sha256": None,
                "metadata": {}}
    raise _unknown(name)


def get_builder(architecture):
    _collect()
    if architecture not in _ARCHITECTURES:
        raise _unknown(architecture)
    return _ARCHITECTURES[architecture]


def model_info(name):
    """Everything known about preset (or architecture) `name`, as a plain dict.

    Returns the preset's metadata (task, description, input_size, channels, class_names,
    input_range, preprocessing, training_data, protocol, accuracy, licence, paper, ...) plus
    `name`, `architecture`, `config`, `weights`, `sha256`, `source` (the module that registered
    it), `pretrained` (whether default weights exist) and `card_path` (the model card, if any).

    Example:
    ```python
    info = fer_zoo.model_info("gasca2")
    info["class_names"], info["input_size"], info["accuracy"]
    ```
    """
    preset = get_preset(name)
    kind = "preset" if name in _PRESETS else "arch"
    info = copy.deepcopy(preset["metadata"])
    card = info.get("card")
    info.update(
        name=name,
        architecture=preset["architecture"],
        config=preset["config"],
        weights=preset["weights"],
        sha256=preset["sha256"],
        pretrained=preset["weights"] is not None,
        source=_SOURCES.get((kind, name), "user"),
        card_path=str(CARDS_DIR / card) if card and (CARDS_DIR / card).exists() else None,
    )
    return info
