"""GASCA training pairs: eq. 8 pose targets, (input, target) index pairing, relighting and the
GASCA2 "closest to the mean luminance" target rule.

Reference:
    Ruiz-Garcia et al., "Generative Adversarial Stacked Autoencoders for Facial Pose
    Normalization and Emotion Recognition", IJCNN 2020, section V (eq. 8).
"""

import numpy as np

# Labels that must agree between an input and its target (everything but pose and light).
PAIR_KEYS = ("identity", "expression", "session", "intensity", "pitch")


def eq8_target_pose(yaw, alpha, step):
    """Eq. 8, literally: `yaw - step` if `0 < alpha < yaw`, `yaw + step` if `yaw < alpha < 0`
    (mirrored: `yaw < -|alpha|`), else `yaw` (already within the desired pose `alpha`)."""
    yaw = np.asarray(yaw, dtype=np.float64)
    alpha = abs(float(alpha))
    return np.where(yaw > alpha, yaw - step, np.where(yaw < -alpha, yaw + step, yaw))


def stage_alphas(max_pose, step, depth):
    """Desired pose `alpha_k` of shallow autoencoder k = 1..depth: one `step` closer to frontal
    per layer, 0 from there on (SynthFER +-60/15, 4 layers: 45, 30, 15, 0; KDEF +-45/45: 0, ...)."""
    return tuple(float(max(0.0, max_pose - k * step)) for k in range(1, depth + 1))


def stage_target_pose(yaw, alpha):
    """Target pose of an input at `yaw` for the stack of layers 1..k with `alpha = alpha_k`.

    The input of layer k has already been brought to `min(|yaw|, alpha_{k-1})` by layers
    1..k-1, so applying eq. 8 to that effective pose gives `sign(yaw) * min(|yaw|, alpha_k)`.
    """
    yaw = np.asarray(yaw, dtype=np.float64)
    return np.sign(yaw) * np.minimum(np.abs(yaw), abs(float(alpha)))


def _key_columns(labels, n, keys):
    columns = []
    for key in keys:
        if key in labels:
            value = np.asarray(labels[key])
            if value.dtype.kind == "f":
                value = np.where(np.isnan(value), -1e9, np.round(value, 3))
            columns.append(value.astype(np.float64))
        else:
            columns.append(np.full(n, -1.0))
    return columns


def pose_pair_indices(labels, target_yaws, target_mask=None, keys=PAIR_KEYS, yaw_tolerance=1.0):
    """For every row i, the index j of the image with the same `keys` labels whose yaw equals
    `target_yaws[i]` (within `yaw_tolerance` degrees).

    Args:
        labels: dict of label arrays (a `FaceSet.labels`), with at least `yaw`.
        target_yaws: desired yaw of each row's target.
        target_mask: optional bool array; only rows where it is True can be targets
            (e.g. evenly lit images).
        keys: labels that must match between input and target.
        yaw_tolerance: degrees.

    Returns:
        `(source, target)` int arrays of the rows that found a target.
    """
    if "yaw" not in labels:
        raise ValueError("GASCA pairing needs a 'yaw' label (degrees) on the FaceSet.")
    yaw = np.asarray(labels["yaw"], dtype=np.float64)
    n = len(yaw)
    target_yaws = np.asarray(target_yaws, dtype=np.float64)
    mask = np.ones(n, bool) if target_mask is None else np.asarray(target_mask, bool)
    columns = _key_columns(labels, n, keys)
    index = {}
    for j in np.flatnonzero(mask):
        key = tuple(c[j] for c in columns) + (int(round(yaw[j] / yaw_tolerance)),)
        index.setdefault(key, j)
    source, target = [], []
    for i in range(n):
        if np.isnan(target_yaws[i]):
            continue
        key = tuple(c[i] for c in columns) + (int(round(target_yaws[i] / yaw_tolerance)),)
        j = index.get(key)
        if j is not None:
            source.append(i)
            target.append(j)
    return np.asarray(source, dtype=np.int64), np.asarray(target, dtype=np.int64)


def relative_luminance(images):
    """Mean relative luminance of each `[-1, 1]` image in [0, 1] (Rec. 709 weights for RGB)."""
    images = (np.asarray(images, np.float32) + 1.0) / 2.0
    if images.shape[-1] == 3:
        images = images @ np.asarray([0.2126, 0.7152, 0.0722], np.float32)
    return images.reshape(len(images), -1).mean(axis=1)


def closest_to_mean_luminance(copies):
    """Index of the copy whose relative luminance is closest to the copies' mean (the GASCA2
    target among the differently lit copies of one image, section V)."""
    luminance = relative_luminance(copies)
    return int(np.argmin(np.abs(luminance - luminance.mean())))


RELIGHT_MODES = ("balanced", "darken")


def relight(images, rng, strength=0.7, mode="balanced"):
    """Relit copies of `[-1, 1]` faces: a random left/right linear light gradient and a random
    gamma (`exp(U(-0.6, 0.6))`).

    A cheap stand-in for the 19 flash directions of Multi-PIE when a data set (KDEF) has only
    one, evenly lit, image per pose.

    `mode="balanced"`: the gradient brightens one side and darkens the other (gain from
    `1 + depth / 2` to `1 - depth / 2`, `depth` up to `strength`), so about as many copies come
    out brighter as darker (measured on SynthFER faces: 50 % brighter). `mode="darken"` (the
    first version, kept to reproduce the shipped KDEF weights): gain from 1 down to
    `1 - depth`, which made 84 % of the copies darker (median luminance -0.14), so the
    closest-to-mean-luminance target rule picked a *darkened* copy for 97 % of the faces.
    """
    if mode not in RELIGHT_MODES:
        raise ValueError(f"relight: mode={mode!r}; expected one of {RELIGHT_MODES}.")
    images = np.asarray(images, np.float32)
    n, _, width = images.shape[:3]
    unit = (images + 1.0) / 2.0
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)
    direction = rng.choice([-1.0, 1.0], size=n)
    ramps = np.where(direction[:, None] > 0, ramp[None], ramp[::-1][None])
    depth = rng.uniform(0.3, 1.0, size=(n, 1)).astype(np.float32) * strength
    gain = 1.0 - depth * ramps if mode == "darken" else 1.0 + depth * (0.5 - ramps)  # (n, W)
    gamma = np.exp(rng.uniform(-0.6, 0.6, size=(n, 1, 1, 1))).astype(np.float32)
    out = np.clip(unit * gain[:, None, :, None], 0.0, 1.0) ** gamma
    return (out * 2.0 - 1.0).astype(np.float32)


def luminance_targets(images, rng, copies=6, strength=0.7, mode="balanced"):
    """GASCA2 target for each image: among it and `copies` relit versions (`relight(..., mode)`),
    the one closest to the mean luminance (with `mode="balanced"` often the evenly lit original)."""
    images = np.asarray(images, np.float32)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        group = np.concatenate([image[None], relight(np.repeat(image[None], copies, 0), rng, strength, mode)])
        out[i] = group[closest_to_mean_luminance(group)]
    return out


def identity_split(identities, val_fraction=0.2, seed=0, fold=None, n_folds=None):
    """Subject-independent split: `(train_mask, val_mask)` with no identity in both.

    Either a random `val_fraction` of the identities, or fold `fold` of `n_folds` contiguous
    folds of the (seeded) shuffled identities (cross-validation).
    """
    identities = np.asarray(identities)
    unique = np.unique(identities)
    order = np.random.default_rng(seed).permutation(unique)
    if fold is not None:
        if not n_folds or not 0 <= fold < n_folds:
            raise ValueError(f"identity_split: fold={fold} needs 0 <= fold < n_folds={n_folds}.")
        val_ids = np.array_split(order, n_folds)[fold]
    else:
        n_val = max(1, int(round(len(unique) * val_fraction))) if val_fraction > 0 else 0
        val_ids = order[:n_val]
    val = np.isin(identities, val_ids)
    return ~val, val
