"""`fer_zoo.data.load(spec)`: data set specs -> `FaceSet` -> batched, prefetched `tf.data`.

Spec strings (`SPEC_HELP`):

    "kdef:/data/KDEF"          any adapter prefix in `fer_zoo.data.adapters.ADAPTERS`
    "fer2013:/data/fer2013"    (kdef, akdef, multipie, ckplus, oulu, jaffe, bu3dfe, sfew,
    "ckplus:/data/CK+"          fer2013, rafdb, affectnet, folder, csv)
    "folder:/my/faces"         <root>/<class>/*.png (see adapters.generic)
    "csv:/my/labels.csv"       path + expression (+ other label) columns
    "npz:/cache/kdef.npz"      a saved `FaceSet` (also any path ending in .npz)
    "synthetic"                SynthFER with its default grid
    "synthetic:n_identities=20,yaws=-60..60,lights=random"   SynthFER.faceset arguments

Synthetic options: `n_identities=N` (identities 0..N-1) or `identities=a..b`, `expressions=`,
`yaws=`, `pitches=`, `intensities=` as `a..b` (yaw/pitch step 15, or `a..b:step`) or `x/y/z`
lists, `lights=even|random`, `n_lights=`, `seed=`, `noise=`, `blur=`.
"""

import inspect
import os
import pathlib

import numpy as np

from fer_zoo.data import adapters, preprocessing, protocols
from fer_zoo.data.faceset import FaceSet

SPEC_HELP = __doc__.split("Spec strings (`SPEC_HELP`):")[1]
SPLIT_NAMES = ("train", "validation", "test")
SPLIT_CODES = {"train": (0,), "validation": (1,), "test": (2, 3)}
SYNTHETIC_DEFAULT_STEP = {
    "yaws": 15.0,
    "pitches": 15.0,
    "identities": 1.0,
    "expressions": 1.0,
    "intensities": 0.25,
}


def default_cache_dir():
    """`$FER_ZOO_CACHE/data`, default `~/.cache/fer_zoo/data` (preprocessed faces)."""
    return os.path.join(
        os.path.expanduser(os.environ.get("FER_ZOO_CACHE", "~/.cache/fer_zoo")), "data"
    )


def known_prefixes():
    return sorted(adapters.ADAPTERS) + ["npz", "synthetic"]


def parse_spec(spec):
    """`"kdef:/path"` -> `("kdef", "/path")`; `"synthetic:k=v"` -> `("synthetic", {k: v})`."""
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(
            f"A data spec is a string like 'kdef:/path' or 'synthetic'; got {type(spec).__name__}."
        )
    spec = str(spec)
    if spec.endswith(".npz") and ":" not in spec.split("/")[0]:
        return "npz", spec
    prefix, _, rest = spec.partition(":")
    prefix = prefix.strip().lower()
    if prefix == "synthetic":
        return "synthetic", _parse_synthetic_options(rest)
    if prefix not in adapters.ADAPTERS and prefix != "npz":
        raise ValueError(
            f"Unknown data spec prefix {prefix!r} in {spec!r}; known: {known_prefixes()}.\n{SPEC_HELP}"
        )
    if not rest:
        raise ValueError(f"Data spec {spec!r} needs a path after '{prefix}:'.")
    return prefix, os.path.expanduser(rest)


def _number(text):
    value = float(text)
    return int(value) if value.is_integer() else value


def _parse_values(key, text):
    if ".." in text:
        bounds, _, step = text.partition(":")
        low, high = (float(v) for v in bounds.split(".."))
        step = float(step) if step else SYNTHETIC_DEFAULT_STEP.get(key, 1.0)
        count = int(np.floor((high - low) / step + 1e-9)) + 1
        return tuple(_number(f"{low + i * step:.6g}") for i in range(count))
    return tuple(
        v if not v.lstrip("-").replace(".", "", 1).isdigit() else _number(v)
        for v in text.split("/")
    )


def _parse_synthetic_options(text):
    options = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"Synthetic option {item!r} must be key=value.\n{SPEC_HELP}")
        key, value = key.strip(), value.strip()
        if key == "n_identities":
            options["identities"] = tuple(range(int(value)))
        elif key in ("identities", "expressions", "yaws", "pitches", "intensities"):
            options[key] = _parse_values(key, value)
        elif key == "lights":
            options[key] = value if value in ("even", "random") else _parse_values(key, value)
        elif key in ("n_lights", "light_seed", "seed"):
            options[key] = int(value)
        elif key in ("noise", "blur", "harsh_light_prob"):
            options[key] = float(value)
        else:
            raise ValueError(f"Unknown synthetic option {key!r}.\n{SPEC_HELP}")
    return options


def _synthetic_faceset(options, image_size, channels, seed=0):
    from fer_zoo.data.synthfer import SynthFER  # noqa: PLC0415 — optional heavy import

    options = dict(options)
    seed = options.pop("seed", seed)
    return SynthFER(image_size=image_size, channels=channels, seed=seed).faceset(**options)


def _call_adapter(loader, path, **kwargs):
    accepted = inspect.signature(loader).parameters
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise TypeError(
            f"{loader.__name__} does not take {unknown}; it takes {list(accepted)[1:]}."
        )
    return loader(path, **kwargs)


def load_faceset(spec, image_size=64, channels=1, cache_dir=None, **kwargs):
    """A `FaceSet` from a spec string (see `SPEC_HELP`), a `FaceSet` or an `.npz` path.

    Args:
        spec: e.g. `"kdef:/data/KDEF"`, `"fer2013:/data/fer2013"`, `"synthetic:n_identities=8"`.
        image_size, channels: output faces (a saved/given FaceSet is resized/converted).
        cache_dir: preprocessed-face cache folder for the photograph adapters (a second load is
            fast). None: `$FER_ZOO_CACHE/data` (default `~/.cache/fer_zoo/data`); False: no cache.
        **kwargs: passed to the adapter (e.g. `poses=["S"]` for KDEF, `splits=["Training"]`
            for FER2013, `skip_bad=True`) or to `SynthFER.faceset` for synthetic specs.
    """
    if isinstance(spec, FaceSet):
        return _conform(spec, image_size, channels)
    kind, target = parse_spec(spec)
    if kind == "synthetic":
        return _synthetic_faceset({**target, **kwargs}, image_size, channels)
    path = pathlib.Path(target)
    if not path.exists():
        raise FileNotFoundError(f"Data spec {spec!r}: path not found: {path}")
    if kind == "npz":
        return _conform(FaceSet.load(path), image_size, channels)
    loader = adapters.ADAPTERS[kind]
    if cache_dir is not False and "cache_dir" in inspect.signature(loader).parameters:
        kwargs["cache_dir"] = (
            default_cache_dir() if cache_dir is None else os.path.expanduser(str(cache_dir))
        )
    return _call_adapter(loader, path, image_size=image_size, channels=channels, **kwargs)


def _conform(faceset, image_size, channels):
    if faceset.image_shape == (image_size, image_size, channels):
        return faceset
    images = preprocessing.convert_channels(
        preprocessing.resize_faces(faceset.images, image_size), channels
    )
    return FaceSet(images, dict(faceset.labels), faceset.class_names, faceset.name, faceset.paths)


def split_indices(
    faceset, split, protocol=None, fold=0, seed=0, test_fraction=0.2, validation_fraction=0.1
):
    """Indices of `split` ("train" / "validation" / "test") of a face set.

    Uses, in order: the face set's own `split` label when it has one (FER2013, SFEW, RAF-DB,
    split folders); else `protocol` (a name in `protocols.PROTOCOLS`; k-fold protocols use `fold`,
    with the train part's identities further holding out `validation_fraction` for
    "validation"); else a subject-independent holdout by identity (`test_fraction`,
    `validation_fraction`).
    """
    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {SPLIT_NAMES} or None, got {split!r}.")
    labels = faceset.labels
    if "split" in labels and (np.asarray(labels["split"]) >= 0).any():
        index = np.nonzero(np.isin(labels["split"], SPLIT_CODES[split]))[0]
        if index.size == 0:
            present = sorted(set(np.asarray(labels["split"]).tolist()))
            raise ValueError(
                f"{faceset.name!r} has no {split!r} images (split codes present: {present})."
            )
        return index
    if protocol is not None and protocols.PROTOCOLS.get(protocol, {}).get("kind") == "kfold":
        train, test = protocols.protocol_splits(protocol, faceset, fold=fold, seed=seed)
        if split == "test":
            return test
        if validation_fraction <= 0:
            return train if split == "train" else np.zeros(0, np.int64)
        inner = protocols.subject_split(
            np.asarray(labels["identity"])[train], validation_fraction, 0.0, seed
        )
        return train[inner["train"]] if split == "train" else train[inner["test"]]
    parts = protocols.subject_split(faceset, test_fraction, validation_fraction, seed)
    return parts[split]


def to_dataset(
    faceset,
    batch_size=32,
    shuffle=False,
    augment=None,
    seed=0,
    repeat=False,
    drop_remainder=False,
    label_keys=None,
    indices=None,
    prefetch=True,
):
    """`tf.data.Dataset` of `(image, labels_dict)` batches from a `FaceSet`.

    Args:
        faceset: the faces.
        batch_size: None for unbatched elements.
        shuffle: reshuffle every epoch (seeded).
        augment: None, "standard", "relgan", "flip" or a callable `(image, labels) -> (image, labels)`
            (see `fer_zoo.data.augment`).
        label_keys: labels to include (default all numeric labels).
        indices: optional subset / order of the images (e.g. a protocol split or pairing index).
    """
    import tensorflow as tf  # noqa: PLC0415 — keep `fer_zoo.data` importable without TF startup

    from fer_zoo.data import augment as augment_lib  # noqa: PLC0415

    if indices is not None:
        faceset = faceset.subset(np.asarray(indices, np.int64))
    if len(faceset) == 0:
        raise ValueError(f"{faceset.name!r}: no images to build a dataset from.")
    keys = label_keys or [
        k for k, v in faceset.labels.items() if np.asarray(v).dtype.kind in "biuf"
    ]
    missing = [k for k in keys if k not in faceset.labels]
    if missing:
        raise KeyError(
            f"{faceset.name!r} has no labels {missing}; it has {sorted(faceset.labels)}."
        )
    labels = {}
    for key in keys:
        value = np.asarray(faceset.labels[key])
        labels[key] = (
            value.astype(np.float32) if value.dtype.kind == "f" else value.astype(np.int32)
        )
    dataset = tf.data.Dataset.from_tensor_slices((faceset.images.astype(np.float32), labels))
    if shuffle:
        dataset = dataset.shuffle(
            min(len(faceset), 20000), seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        dataset = dataset.repeat()
    function = augment_lib.get_augmentation(augment, faceset.image_shape[0])
    if function is not None:
        dataset = dataset.map(function, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if batch_size:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE) if prefetch else dataset


def load(
    spec,
    batch_size=32,
    split=None,
    shuffle=None,
    augment=None,
    image_size=64,
    channels=1,
    cache_dir=None,
    protocol=None,
    fold=0,
    seed=0,
    repeat=False,
    drop_remainder=False,
    label_keys=None,
    **kwargs,
):
    """Batched, prefetched `tf.data.Dataset` of `(image, labels_dict)` from a data spec.

    Args:
        spec: see `SPEC_HELP` (or a `FaceSet`).
        split: None (all images) or "train" / "validation" / "test" (see `split_indices`;
            `protocol` defaults to the spec's prefix when it names a protocol).
        shuffle: default True for None/"train", False for evaluation splits.
        augment: None / "standard" / "relgan" / "flip" / callable (training only, your choice).
        image_size, channels, cache_dir, **kwargs: see `load_faceset`.
        fold: k-fold protocols' test fold.

    Example:
    ```python
    train = fer_zoo.data.load("kdef:/data/KDEF", split="train", batch_size=32, augment="standard")
    for images, labels in train.take(1):
        images.shape, labels["expression"], labels["yaw"]
    ```
    """
    faceset = load_faceset(
        spec, image_size=image_size, channels=channels, cache_dir=cache_dir, **kwargs
    )
    indices = None
    if split is not None:
        if protocol is None and isinstance(spec, str):
            prefix = spec.partition(":")[0].lower()
            protocol = prefix if prefix in protocols.PROTOCOLS else None
        indices = split_indices(faceset, split, protocol=protocol, fold=fold, seed=seed)
    if shuffle is None:
        shuffle = split in (None, "train")
    return to_dataset(
        faceset,
        batch_size=batch_size,
        shuffle=shuffle,
        augment=augment,
        seed=seed,
        repeat=repeat,
        drop_remainder=drop_remainder,
        label_keys=label_keys,
        indices=indices,
    )


def synthetic(
    batch_size=32,
    image_size=64,
    channels=1,
    split=None,
    shuffle=None,
    augment=None,
    seed=0,
    repeat=False,
    **faceset_kwargs,
):
    """SynthFER faces as a `tf.data.Dataset` (keyword arguments as `SynthFER.faceset`).

    Example:
    ```python
    ds = fer_zoo.data.synthetic(batch_size=8, identities=range(4), yaws=(-45, 0, 45))
    ```
    """
    faceset = _synthetic_faceset({**faceset_kwargs, "seed": seed}, image_size, channels)
    return load(
        faceset,
        batch_size=batch_size,
        split=split,
        shuffle=shuffle,
        augment=augment,
        image_size=image_size,
        channels=channels,
        seed=seed,
        repeat=repeat,
    )
