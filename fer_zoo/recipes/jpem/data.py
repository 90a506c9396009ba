"""JPEM data: (face, target face) pairs for the GAN and generated-data augmentation for C_exp.

* `PairedFaces` yields each face with a random target expression x pose and, when the data set
  holds the same identity at that expression and pose (KDEF, Multi-PIE, SynthFER), that real
  face as the content-loss target; otherwise the target is the input with its own codes.
  `sampling="target"` instead makes every face a target once per epoch, its input a face of
  the same identity (the neutral frontal one with probability `anchor_fraction`).
* `generate_all_targets` renders every real training face at every expression x pose (the
  paper's `E * P * N` generated images).
* `MixedGeneratedFaces` is the classifier's data: each epoch all `N` real faces plus
  `ratio * N` generated faces drawn at random from that pool (paper sec. 4.3.1, Fig. 5: 0N, 1N,
  5N, 10N, ...).
"""

import math

import keras
import numpy as np

from fer_zoo.data.preprocessing import from_model_range


def pose_indices(yaws, pose_values, tolerance=1.0):
    """Index into `pose_values` of each yaw (degrees); a clear error for a yaw not listed."""
    yaws = np.asarray(yaws, dtype=np.float32)
    values = np.asarray(pose_values, dtype=np.float32)
    distance = np.abs(yaws[:, None] - values[None, :])
    index = distance.argmin(axis=1)
    bad = distance[np.arange(len(yaws)), index] > tolerance
    if bad.any():
        raise ValueError(
            f"pose_indices: yaw {float(yaws[bad][0])} is not within {tolerance} degrees of any of "
            f"pose_values={list(pose_values)}; pass the data set's poses in `poses`."
        )
    return index.astype(np.int32)


def group_ids(labels, keys=("identity", "session")):
    """One integer per (identity, session, ...) group: faces that differ only in expression/pose."""
    columns = [np.asarray(labels[k]).astype(np.int64) for k in keys if k in labels]
    if not columns:
        raise ValueError(f"group_ids: labels have none of the keys {keys}; need at least 'identity'.")
    _, ids = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)


class PairedFaces(keras.utils.PyDataset):
    """Batches of `(image, {expression, pose, target_image, target_expression, target_pose})`.

    `sampling="input"` (default): every epoch each face is an input once, with a random target
    (expression, pose). When its group (same identity and session) holds a real face with that
    expression and pose, that face is the L1 target; otherwise (or with probability
    `reconstruction_fraction`) the target is the input itself with its own codes (plain
    reconstruction, eq. 6).

    `sampling="target"` (complete grids such as SynthFER): every epoch each face is a *target*
    once, so every expression x pose is asked for equally often; its input is the group's
    `anchor` face (e.g. neutral frontal) with probability `anchor_fraction`, else a face of the
    same group drawn uniformly (any expression x pose, the target itself included). Needs
    `groups`; a group without an anchor face always takes a uniform draw.

    Args:
        images: float32 `(N, H, W, C)` in [-1, 1].
        expression: int `(N,)` expression indices.
        pose: int `(N,)` pose indices.
        groups: int `(N,)` group ids (`group_ids`), or `None` for reconstruction only.
        num_expressions: int.
        num_poses: int.
        batch_size: int.
        reconstruction_fraction: float in [0, 1], share of faces trained to reconstruct themselves.
        shuffle: bool.
        seed: int seed of target sampling and shuffling.
        sampling: `"input"` or `"target"` (see above).
        anchor: `(expression index, pose index)` of the anchor face (`sampling="target"`).
        anchor_fraction: float in [0, 1], share of targets whose input is the anchor face.
        **kwargs: forwarded to `keras.utils.PyDataset` (`workers`, ...).
    """

    SAMPLINGS = ("input", "target")

    def __init__(
        self, images, expression, pose, groups, num_expressions, num_poses, batch_size=32,
        reconstruction_fraction=0.0, shuffle=True, seed=0, sampling="input", anchor=None, anchor_fraction=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.images = np.asarray(images, np.float32)
        self.expression = np.asarray(expression, np.int32)
        self.pose = np.asarray(pose, np.int32)
        n = len(self.images)
        if not (len(self.expression) == len(self.pose) == n):
            raise ValueError("PairedFaces: images, expression and pose must have the same length.")
        if sampling not in self.SAMPLINGS:
            raise ValueError(f"PairedFaces: sampling={sampling!r}; expected one of {self.SAMPLINGS}.")
        if sampling == "target" and groups is None:
            raise ValueError("PairedFaces: sampling='target' needs `groups` (faces of one identity).")
        self.num_expressions = num_expressions
        self.num_poses = num_poses
        self.batch_size = batch_size
        self.reconstruction_fraction = reconstruction_fraction
        self.shuffle = shuffle
        self.sampling = sampling
        self.anchor_fraction = float(anchor_fraction) if anchor is not None else 0.0
        self.rng = np.random.default_rng(seed)
        # (group, expression, pose) -> row of that face, -1 when the data set lacks it.
        self.groups = None if groups is None else np.asarray(groups, np.int64)
        if self.groups is not None:
            self.lookup = -np.ones((self.groups.max() + 1, num_expressions, num_poses), np.int64)
            self.lookup[self.groups, self.expression, self.pose] = np.arange(n)
            # Rows sorted by group, and each group's first position and size in that order.
            self.by_group = np.argsort(self.groups, kind="stable")
            self.group_size = np.bincount(self.groups)
            self.group_start = np.concatenate([[0], np.cumsum(self.group_size)[:-1]])
            self.anchor_row = self.lookup[:, anchor[0], anchor[1]] if anchor is not None else None
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def on_epoch_end(self):
        """Draw this epoch's (input row, target row, target codes) slots."""
        if self.sampling == "target":
            self._draw_inputs_for_targets()
        else:
            self._draw_targets_for_inputs()

    def _draw_targets_for_inputs(self):
        n = len(self.images)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        target_e = self.rng.integers(0, self.num_expressions, n)
        target_p = self.rng.integers(0, self.num_poses, n)
        if self.groups is None:
            rows = -np.ones(n, np.int64)
        else:
            rows = self.lookup[self.groups, target_e, target_p]
        rows[self.rng.random(n) < self.reconstruction_fraction] = -1
        missing = rows < 0
        # Fall back to reconstruction: the input's own codes and the input as the target.
        target_row = np.where(missing, np.arange(n), rows)
        target_expression = np.where(missing, self.expression, target_e).astype(np.int32)
        target_pose = np.where(missing, self.pose, target_p).astype(np.int32)
        self._set_slots(order, target_row[order], target_expression[order], target_pose[order])

    def _draw_inputs_for_targets(self):
        n = len(self.images)
        targets = self.rng.permutation(n) if self.shuffle else np.arange(n)
        group = self.groups[targets]
        uniform = self.by_group[self.group_start[group] + (self.rng.random(n) * self.group_size[group]).astype(np.int64)]
        inputs = uniform
        if self.anchor_row is not None:
            anchor = self.anchor_row[group]
            take = (self.rng.random(n) < self.anchor_fraction) & (anchor >= 0)
            inputs = np.where(take, anchor, uniform)
        self._set_slots(inputs, targets, self.expression[targets], self.pose[targets])

    def _set_slots(self, inputs, targets, target_expression, target_pose):
        self.input_rows = np.asarray(inputs, np.int64)
        self.target_rows = np.asarray(targets, np.int64)
        self.slot_target_expression = np.asarray(target_expression, np.int32)
        self.slot_target_pose = np.asarray(target_pose, np.int32)

    def paired_fraction(self):
        """Share of this epoch's pairs whose target is another real face (not the input itself)."""
        return float(np.mean(self.target_rows != self.input_rows))

    def __getitem__(self, index):
        slots = slice(index * self.batch_size, (index + 1) * self.batch_size)
        rows = self.input_rows[slots]
        return self.images[rows], {
            "expression": self.expression[rows],
            "pose": self.pose[rows],
            "target_image": self.images[self.target_rows[slots]],
            "target_expression": self.slot_target_expression[slots],
            "target_pose": self.slot_target_pose[slots],
        }


def generate_all_targets(generate_fn, images, num_expressions, num_poses, batch_size=64, as_uint8=True):
    """Every face in `images` rendered at every expression x pose.

    Args:
        generate_fn: `f(images, expression_idx, pose_idx) -> images` (e.g. `recipe.generate`).
        images: `(N, H, W, C)` real faces.
        as_uint8: store the `N * E * P` faces as uint8 (4x less memory; 1/127.5 quantisation).

    Returns:
        dict with `images` `(N*E*P, H, W, C)`, `expression`, `pose` and `source` (row of the
        real face) arrays, ordered source-major.
    """
    images = np.asarray(images, np.float32)
    n = len(images)
    combos = np.array([(e, p) for e in range(num_expressions) for p in range(num_poses)], np.int32)
    k = len(combos)
    source = np.repeat(np.arange(n), k)
    expression = np.tile(combos[:, 0], n)
    pose = np.tile(combos[:, 1], n)
    out = np.empty((n * k,) + images.shape[1:], np.uint8 if as_uint8 else np.float32)
    for start in range(0, n * k, batch_size):
        sl = slice(start, min(start + batch_size, n * k))
        faces = np.asarray(keras.ops.convert_to_numpy(generate_fn(images[source[sl]], expression[sl], pose[sl])), np.float32)
        out[sl] = to_uint8(faces) if as_uint8 else faces
    return {"images": out, "expression": expression, "pose": pose, "source": source}


def to_uint8(images):
    return from_model_range(images)


def from_uint8(images):
    return np.asarray(images, np.float32) / 127.5 - 1.0


class MixedGeneratedFaces(keras.utils.PyDataset):
    """Classifier batches `(image, expression)`: all real faces + `ratio * N` generated per epoch.

    The generated faces of each epoch are drawn anew, without replacement while the pool is
    large enough (the paper's "randomly choose ... from the generated facial images during each
    training epoch").

    Args:
        images: `(N, H, W, C)` real faces in [-1, 1].
        expression: `(N,)` their expression indices.
        generated: dict from `generate_all_targets` (or `None` when `ratio == 0`).
        ratio: number of generated faces per real face in an epoch (0, 1, 5, 10, ...).
        batch_size: int.
        seed: int.
        **kwargs: forwarded to `keras.utils.PyDataset`.
    """

    def __init__(self, images, expression, generated=None, ratio=5, batch_size=32, seed=0, **kwargs):
        super().__init__(**kwargs)
        if ratio < 0:
            raise ValueError(f"MixedGeneratedFaces: ratio must be >= 0, got {ratio}.")
        if ratio > 0 and (generated is None or not len(generated["images"])):
            raise ValueError("MixedGeneratedFaces: ratio > 0 needs a non-empty `generated` pool.")
        self.images = np.asarray(images, np.float32)
        self.expression = np.asarray(expression, np.int32)
        self.generated = generated
        self.ratio = ratio
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def epoch_counts(self):
        """`{"real": N, "generated": ratio * N}` faces per epoch."""
        return {"real": len(self.images), "generated": int(round(self.ratio * len(self.images)))}

    def on_epoch_end(self):
        counts = self.epoch_counts()
        if counts["generated"]:
            pool = len(self.generated["images"])
            self.chosen = self.rng.choice(pool, counts["generated"], replace=counts["generated"] > pool)
        else:
            self.chosen = np.zeros(0, np.int64)
        # Negative entries index the generated faces (-1 - i), non-negative ones the real faces.
        self.order = self.rng.permutation(np.concatenate([np.arange(counts["real"]), -1 - self.chosen]))

    def __len__(self):
        return math.ceil(len(self.order) / self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        real = rows >= 0
        x = np.empty((len(rows),) + self.images.shape[1:], np.float32)
        y = np.empty(len(rows), np.int32)
        x[real] = self.images[rows[real]]
        y[real] = self.expression[rows[real]]
        if (~real).any():
            gen_rows = -1 - rows[~real]
            faces = self.generated["images"][gen_rows]
            x[~real] = from_uint8(faces) if faces.dtype == np.uint8 else faces
            y[~real] = self.generated["expression"][gen_rows]
        return x, y
