"""Evaluation protocols: subject-independent splits, k-fold by identity, FER2013's fixed splits.

Every function works on a `FaceSet` (or its `identity` array) and returns index arrays, so the
same split can select images, labels and pairs. Splits are deterministic for a given `seed`.

Standard protocols (`PROTOCOLS`):

| name       | split                                             |
|------------|---------------------------------------------------|
| `ckplus`   | 10 folds by subject                                |
| `multipie` | 5 folds by subject                                 |
| `oulu`     | 10 folds by subject                                |
| `bu3dfe`   | 80% / 20% of subjects (train / test)              |
| `kdef`     | 10 folds by identity (70 / 60 people)             |
| `jaffe`    | leave-one-subject-out (10 folds)                   |
| `fer2013`  | Training / PublicTest (validation) / PrivateTest  |
"""

import numpy as np

from fer_zoo.data.faceset import FaceSet

PROTOCOLS = {
    "ckplus": {"kind": "kfold", "folds": 10},
    "multipie": {"kind": "kfold", "folds": 5},
    "oulu": {"kind": "kfold", "folds": 10},
    "kdef": {"kind": "kfold", "folds": 10},
    "jaffe": {"kind": "kfold", "folds": 10},
    "bu3dfe": {"kind": "holdout", "test_fraction": 0.2},
    "fer2013": {"kind": "fixed"},
}

FER2013_SPLITS = {
    "training": 0,
    "train": 0,
    "publictest": 1,
    "validation": 1,
    "val": 1,
    "privatetest": 2,
    "test": 2,
}


def _identities(data):
    identity = np.asarray(data.labels["identity"] if isinstance(data, FaceSet) else data)
    if identity.ndim != 1:
        raise ValueError(f"identity must be 1-D, got shape {identity.shape}.")
    if len(identity) == 0:
        raise ValueError("Cannot split an empty set.")
    if (identity < 0).any():
        raise ValueError(
            f"{int((identity < 0).sum())} images have unknown identity (-1): subject-independent splits "
            "need every image's identity."
        )
    return identity


def identity_folds(data, folds, seed=0):
    """Fold number (0..folds-1) of every image, whole identities per fold, image counts balanced.

    Identities are shuffled with `seed`, then each goes to the fold with the fewest images so far.
    """
    identity = _identities(data)
    ids, counts = np.unique(identity, return_counts=True)
    if folds < 2 or folds > len(ids):
        raise ValueError(f"folds must be in 2..{len(ids)} (the number of identities), got {folds}.")
    order = np.random.default_rng(seed).permutation(len(ids))
    # Largest identities first (stable after the shuffle) so greedy filling balances well.
    order = order[np.argsort(-counts[order], kind="stable")]
    load = np.zeros(folds, np.int64)
    fold_of = {}
    for i in order:
        fold = int(np.argmin(load))
        fold_of[ids[i]] = fold
        load[fold] += counts[i]
    return np.asarray([fold_of[i] for i in identity], np.int64)


def kfold_splits(data, folds, seed=0):
    """List of `(train_indices, test_indices)`, one per fold, no identity in both."""
    fold_of = identity_folds(data, folds, seed)
    return [(np.nonzero(fold_of != k)[0], np.nonzero(fold_of == k)[0]) for k in range(folds)]


def subject_split(data, test_fraction=0.2, validation_fraction=0.0, seed=0):
    """Holdout split by identity: dict of index arrays `train`, `validation`, `test`.

    Fractions are of identities (not images); each part gets at least one identity when its
    fraction is positive.
    """
    identity = _identities(data)
    ids = np.unique(identity)
    if (
        not 0 < test_fraction < 1
        or not 0 <= validation_fraction < 1
        or test_fraction + validation_fraction >= 1
    ):
        raise ValueError(
            f"Need 0 < test_fraction, 0 <= validation_fraction and a sum < 1; got {test_fraction}, "
            f"{validation_fraction}."
        )
    shuffled = np.random.default_rng(seed).permutation(ids)
    n_test = max(1, int(round(test_fraction * len(ids))))
    n_val = max(1, int(round(validation_fraction * len(ids)))) if validation_fraction > 0 else 0
    if n_test + n_val >= len(ids):
        raise ValueError(
            f"Only {len(ids)} identities: too few for test {test_fraction} + validation {validation_fraction}."
        )
    test_ids, val_ids = shuffled[:n_test], shuffled[n_test : n_test + n_val]
    test = np.isin(identity, test_ids)
    val = np.isin(identity, val_ids)
    return {
        "train": np.nonzero(~test & ~val)[0],
        "validation": np.nonzero(val)[0],
        "test": np.nonzero(test)[0],
    }


def fer2013_split(data, name):
    """Indices of FER2013's `Training`, `PublicTest` (or `validation`) or `PrivateTest` images."""
    split = np.asarray(data.labels["split"] if isinstance(data, FaceSet) else data)
    key = str(name).lower()
    if key not in FER2013_SPLITS:
        raise ValueError(f"Unknown FER2013 split {name!r}; use one of {sorted(FER2013_SPLITS)}.")
    wanted = FER2013_SPLITS[key]
    index = np.nonzero(split == wanted)[0]
    if wanted == 2 and index.size == 0:
        # Class-folder releases merge PublicTest+PrivateTest into "test" (split 3).
        index = np.nonzero(split == 3)[0]
    return index


def protocol_splits(name, faceset, fold=None, seed=0):
    """Splits of a standard protocol (see `PROTOCOLS`).

    Returns for k-fold protocols the list of `(train, test)` index pairs (or the pair of `fold`),
    for holdout protocols a dict `train`/`validation`/`test`, for FER2013 a dict
    `train`/`validation`/`test` (Training / PublicTest / PrivateTest).
    """
    key = name.lower().replace("+", "plus").replace("-", "")
    if key not in PROTOCOLS:
        raise ValueError(f"Unknown protocol {name!r}; known: {sorted(PROTOCOLS)}.")
    spec = PROTOCOLS[key]
    if spec["kind"] == "kfold":
        folds = min(spec["folds"], len(np.unique(_identities(faceset))))
        splits = kfold_splits(faceset, folds, seed)
        if fold is None:
            return splits
        if not 0 <= fold < len(splits):
            raise ValueError(f"fold must be in 0..{len(splits) - 1}, got {fold}.")
        return splits[fold]
    if spec["kind"] == "holdout":
        return subject_split(faceset, spec["test_fraction"], 0.0, seed)
    return {
        "train": fer2013_split(faceset, "Training"),
        "validation": fer2013_split(faceset, "PublicTest"),
        "test": fer2013_split(faceset, "PrivateTest"),
    }
