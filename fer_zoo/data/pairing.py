"""Index builders that pair the images of a `FaceSet` for the recipes' supervised targets.

All builders return integer index arrays into the face set (so the same pairs serve images,
labels and tf.data pipelines) and are deterministic for a given `seed`. Label keys missing from
a face set, or entirely unknown (-1 / NaN), are ignored when matching.

* `gasca_pairs` — GASCA eq. 8: input at yaw phi -> target of the same face at a yaw reduced
  towards 0 (by `d` degrees per stacked autoencoder), optionally the luminance-mean target
  (GASCA2's illumination normalisation).
* `jpem_pairs` — JPEM: image -> the same identity at a (random or given) target expression/yaw.
* `fesr_pairs` — FESR: image -> another real image of the same expression class.
* `relgan_triplets` — REL-GAN: (source, target identity, ground truth = target identity with the
  source expression, same pose/session where possible).
"""

import collections

import numpy as np

from fer_zoo.data.preprocessing import relative_luminance

# Keys that describe "the same face apart from pose / lighting".
FACE_KEYS = ("identity", "session", "expression", "intensity", "pitch")
LIGHT_KEYS = ("illumination", "light_azimuth", "light_elevation", "light_strength", "light_ambient")


def _known(labels, key):
    if key not in labels:
        return False
    values = np.asarray(labels[key])
    if values.dtype.kind == "f":
        return bool(np.isfinite(values).any())
    return bool((values >= 0).any())


def group_keys(labels, keys):
    """Per-image hashable tuple of the (known) label values in `keys` (floats rounded to 1e-3)."""
    used = [k for k in keys if _known(labels, k)]
    n = len(next(iter(labels.values())))
    columns = []
    for k in used:
        values = np.asarray(labels[k])
        if values.dtype.kind == "f":
            values = np.where(np.isfinite(values), np.round(values, 3), -9999.0)
        columns.append(values.tolist())
    return [tuple(c[i] for c in columns) for i in range(n)], used


def gasca_target_yaw(yaw, alpha, d=15.0, mode="clip"):
    """Target yaw of GASCA eq. 8 for inputs at `yaw` and the autoencoder of target pose `alpha`.

    `mode="step"` is eq. 8 literally: one step of `d` towards 0 when the pose is beyond `|alpha|`
    (`phi - d` if `0 < alpha < phi`, `phi + d` if `phi < alpha < 0`, `phi` if `|phi| <= |alpha|`);
    `alpha` = 0 with |phi| > 0 steps towards 0 as well. `mode="clip"` (default) is the pose the
    k-th autoencoder of the *stack* must output for a raw input: the earlier autoencoders have
    already reduced it, so the target is `sign(phi) * min(|phi|, |alpha|)` (the same as eq. 8
    applied to the effective pose the stack hands to that layer).
    """
    yaw = np.asarray(yaw, np.float64)
    alpha = abs(float(alpha))
    if mode == "clip":
        return np.sign(yaw) * np.minimum(np.abs(yaw), alpha)
    if mode == "step":
        beyond = np.abs(yaw) > alpha
        return np.where(beyond, yaw - np.sign(yaw) * np.minimum(d, np.abs(yaw) - alpha), yaw)
    raise ValueError(f"mode must be 'clip' or 'step', got {mode!r}.")


def gasca_alphas(yaws, d=15.0):
    """Target poses of the stacked autoencoders, outermost first: e.g. yaws up to 60, d 15 ->
    (45, 30, 15, 0); KDEF (up to 90, d 45) -> (45, 0)."""
    finite = np.asarray(yaws, np.float64)
    finite = finite[np.isfinite(finite)]
    top = float(np.max(np.abs(finite))) if finite.size else 0.0
    steps = int(np.ceil(top / d - 1e-9))
    return tuple(float(top - d * k) if top - d * k > 0 else 0.0 for k in range(1, steps + 1)) or (
        0.0,
    )


def gasca_pairs(
    faceset, alpha, d=15.0, mode="clip", illumination="same", restrict=False, linear=False
):
    """(input, target) index pairs for the GASCA autoencoder trained towards pose `alpha`.

    Args:
        faceset: needs `yaw`; faces are matched on the known keys of `FACE_KEYS`.
        alpha: this autoencoder's target pose (degrees).
        d: pose step (15 for Multi-PIE, 45 for KDEF).
        mode: `"clip"` or `"step"` (see `gasca_target_yaw`).
        illumination: `"same"` (GASCA1: the target has the input's lighting, matched on
            `LIGHT_KEYS`) or `"mean_luminance"` (GASCA2: among the target-pose images of the face
            under all lightings, the one whose relative luminance is closest to their mean).
        restrict: keep only inputs with `|yaw| <= |alpha| + d` (the paper's subsets A_k).
        linear: luminance on linearised sRGB (see `relative_luminance`).

    Returns:
        `(inputs, targets)` int arrays; inputs without an exact target image are left out.
    """
    labels = faceset.labels
    if not _known(labels, "yaw"):
        raise ValueError(f"gasca_pairs needs a 'yaw' label; {faceset.name!r} has none.")
    yaw = np.asarray(labels["yaw"], np.float64)
    target_yaw = gasca_target_yaw(yaw, alpha, d, mode)
    if illumination == "same":
        keys = FACE_KEYS + LIGHT_KEYS
    elif illumination == "mean_luminance":
        keys = FACE_KEYS
    else:
        raise ValueError(f"illumination must be 'same' or 'mean_luminance', got {illumination!r}.")
    groups, _ = group_keys(labels, keys)
    lookup = collections.defaultdict(list)
    for i, g in enumerate(groups):
        if np.isfinite(yaw[i]):
            lookup[(g, round(yaw[i], 3))].append(i)
    chosen = {}
    if illumination == "mean_luminance":
        luminance = relative_luminance(faceset.images, linear=linear)
        for key, members in lookup.items():
            members = np.asarray(members)
            chosen[key] = int(
                members[np.argmin(np.abs(luminance[members] - luminance[members].mean()))]
            )
    else:
        chosen = {key: members[0] for key, members in lookup.items()}
    inputs, targets = [], []
    for i, g in enumerate(groups):
        if not np.isfinite(yaw[i]) or (restrict and abs(yaw[i]) > abs(alpha) + d + 1e-6):
            continue
        target = chosen.get((g, round(float(target_yaw[i]), 3)))
        if target is not None:
            inputs.append(i)
            targets.append(target)
    return np.asarray(inputs, np.int64), np.asarray(targets, np.int64)


def jpem_pairs(
    faceset,
    seed=0,
    target_expression=None,
    target_yaw=None,
    match=("identity", "session") + LIGHT_KEYS,
    exclude_same=True,
):
    """(source, target) pairs: the target is the source's identity at another expression and/or yaw.

    Args:
        target_expression, target_yaw: fix the target's expression index / yaw (e.g. 0 for
            frontalisation); None draws one at random among those present for the identity.
        match: label keys the target must share with the source (identity, session, lighting).
        exclude_same: never pair an image with the same (expression, yaw) when others exist.

    Returns:
        `(sources, targets)` int arrays; sources without any candidate are left out.
    """
    labels = faceset.labels
    rng = np.random.default_rng(seed)
    groups, used = group_keys(labels, match)
    if "identity" not in used:
        raise ValueError(f"jpem_pairs needs known identities; {faceset.name!r} has none.")
    expression = np.asarray(labels.get("expression", np.full(len(faceset), -1)))
    yaw = np.asarray(labels.get("yaw", np.full(len(faceset), np.nan)), np.float64)
    members = collections.defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    sources, targets = [], []
    for i, g in enumerate(groups):
        candidates = np.asarray(members[g])
        ok = np.ones(len(candidates), bool)
        if target_expression is not None:
            ok &= expression[candidates] == target_expression
        if target_yaw is not None:
            ok &= np.isclose(yaw[candidates], target_yaw)
        if exclude_same:
            same = (expression[candidates] == expression[i]) & (
                np.isclose(yaw[candidates], yaw[i]) | (np.isnan(yaw[candidates]) & np.isnan(yaw[i]))
            )
            if (ok & ~same).any() and target_expression is None and target_yaw is None:
                ok &= ~same
        if not ok.any():
            continue
        sources.append(i)
        targets.append(int(rng.choice(candidates[ok])))
    return np.asarray(sources, np.int64), np.asarray(targets, np.int64)


def fesr_pairs(faceset, seed=0, different_identity=True):
    """(x, x_real) pairs: x_real is another image of x's expression class (FESR's real sample).

    With `different_identity=True` x_real is drawn from other identities when any exist.
    Images whose class has no other image are left out.
    """
    rng = np.random.default_rng(seed)
    expression = np.asarray(faceset.labels["expression"])
    identity = np.asarray(faceset.labels.get("identity", np.full(len(faceset), -1)))
    by_class = {c: np.nonzero(expression == c)[0] for c in np.unique(expression) if c >= 0}
    sources, reals = [], []
    for i in range(len(faceset)):
        if expression[i] < 0:
            continue
        pool = by_class[expression[i]]
        pool = pool[pool != i]
        if different_identity and identity[i] >= 0:
            other = pool[identity[pool] != identity[i]]
            pool = other if len(other) else pool
        if len(pool) == 0:
            continue
        sources.append(i)
        reals.append(int(rng.choice(pool)))
    return np.asarray(sources, np.int64), np.asarray(reals, np.int64)


def relgan_triplets(faceset, seed=0):
    """(source, target, ground_truth) for expression reenactment.

    The target is an image of another identity (identity drawn uniformly among those showing the
    source expression, then one of its images); the ground truth shows the target's identity
    with the source's expression, preferring the target's yaw and session (then the nearest yaw,
    then any session). Sources without a possible ground truth are left out.
    """
    rng = np.random.default_rng(seed)
    labels = faceset.labels
    expression = np.asarray(labels["expression"])
    identity = np.asarray(labels["identity"])
    if (identity < 0).all():
        raise ValueError(f"relgan_triplets needs identities; {faceset.name!r} has none.")
    yaw = np.asarray(labels.get("yaw", np.zeros(len(faceset))), np.float64)
    yaw = np.where(np.isfinite(yaw), yaw, 0.0)
    session = np.asarray(labels.get("session", np.full(len(faceset), -1)))
    by_identity_expression = collections.defaultdict(list)
    by_identity = collections.defaultdict(list)
    for i in range(len(faceset)):
        if identity[i] >= 0:
            by_identity[identity[i]].append(i)
            if expression[i] >= 0:
                by_identity_expression[(identity[i], expression[i])].append(i)
    identities_with = collections.defaultdict(list)
    for person, expr in sorted(by_identity_expression):
        identities_with[expr].append(person)
    sources, targets, truths = [], [], []
    for i in range(len(faceset)):
        if identity[i] < 0 or expression[i] < 0:
            continue
        # Target identities that show the source's expression somewhere (so a ground truth exists).
        people = [p for p in identities_with[expression[i]] if p != identity[i]]
        if not people:
            continue
        t = int(rng.choice(by_identity[people[rng.integers(len(people))]]))
        truth_pool = np.asarray(by_identity_expression[(identity[t], expression[i])])
        cost = np.abs(yaw[truth_pool] - yaw[t]) * 10.0 + (session[truth_pool] != session[t])
        best = truth_pool[cost == cost.min()]
        sources.append(i)
        targets.append(t)
        truths.append(int(rng.choice(best)))
    return (
        np.asarray(sources, np.int64),
        np.asarray(targets, np.int64),
        np.asarray(truths, np.int64),
    )
