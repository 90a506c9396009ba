"""Per-epoch collapse monitors for generators: output spread on a fixed probe, dead units.

A generator that collapses returns (nearly) the same face for every input; its losses can
still look reasonable for a while. `GeneratorMonitor` runs the generator on a fixed probe
batch at the end of every epoch and adds to the epoch logs (so to the Keras `History`, a
`StageRunner` stage's `history.csv` / `done.json` and its TensorBoard logs):

* `output_spread`: std across the probe's outputs, averaged over pixels (~0 when collapsed);
* `target_spread`: the same statistic on the probe's targets, for scale (when given);
* `dead_fraction`: share of the units of an internal layer (e.g. the code) that are constant
  (ReLU: zero) for every probe input (when an activations function is given).

This module is recipe-agnostic: the caller passes closures over its own networks.
"""

import sys

import keras
import numpy as np


def _float_rows(batch):
    """`batch` (a tensor or array, possibly bfloat16) as a float32 `(N, -1)` numpy array."""
    values = np.asarray(keras.ops.convert_to_numpy(batch), np.float32)
    return values.reshape(len(values), -1)


def spread(batch):
    """Std across the batch (axis 0), averaged over every other position (pixels, channels).

    0 for a batch of identical images; about the std of the data for independent images.
    """
    rows = _float_rows(batch).astype(np.float64)
    return float((rows - rows[:1]).std(0).mean())  # shifted: identical rows give exactly 0


def dead_fraction(activations, atol=1e-6):
    """Share of units (positions x channels) whose value varies by at most `atol` over the
    batch: a ReLU unit that is zero for every input, a saturated tanh, a code unit that no
    longer depends on its input."""
    rows = _float_rows(activations)
    return float(np.mean(np.ptp(rows, axis=0) <= atol))


def probe_rows(count, size, seed=0, preferred=None):
    """`min(size, count)` sorted row indices out of `count`, drawn with `seed`; rows where the
    boolean array `preferred` is True come first (e.g. neutral frontal faces)."""
    order = np.random.default_rng(seed).permutation(count)
    if preferred is not None:
        order = order[np.argsort(~np.asarray(preferred, bool)[order], kind="stable")]
    return np.sort(order[:size])


def probe_with_targets(images, size, seed, target_rows, preferred=None):
    """`(rows, targets)`: `probe_rows` of `images` preferring rows that have a target
    (`target_rows >= 0`, the row of each image's target in `images`, -1 for none) and are
    `preferred`; `targets = images[target_rows[rows]]` when every probe row has one, else None."""
    target_rows = np.asarray(target_rows)
    usable = target_rows >= 0
    rows = probe_rows(len(images), size, seed, usable if preferred is None else usable & preferred)
    return rows, (images[target_rows[rows]] if usable[rows].all() else None)


class GeneratorMonitor(keras.callbacks.Callback):
    """Logs `output_spread`, `target_spread` and `dead_fraction` of a generator every epoch.

    Put it in `fit(callbacks=...)` *before* `CSVLogger` / `TensorBoard` so they see the values
    (`fer_zoo.training.StageRunner.fit` does that for its `callbacks`).

    Args:
        generate: `generate(probe) -> images`, the generator in inference mode.
        probe: the fixed probe batch passed to `generate` (array, tuple or dict of arrays).
        targets: optional images the probe should map to; their spread is logged for scale.
        activations: optional `activations(probe) -> (N, ...)` of the internal layer whose
            dead units are counted (e.g. the encoder's code).
        atol: a unit whose activations vary by at most this over the probe is dead.
        name: label of the printed lines.
        verbose: print the values every epoch; a suspected collapse (output spread below
            `collapse_ratio * target_spread`, or at least half the units dead) is printed
            even when False.
        collapse_ratio: see `verbose`.
        prefix: prepended to the logged names (`"expression_"` -> `expression_output_spread`),
            so several monitors can log side by side.

    Example:
    ```python
    monitor = GeneratorMonitor(lambda x: generator(x, training=False), val_images[:8],
                               targets=val_targets[:8], activations=lambda x: encoder(x))
    history = model.fit(data, epochs=5, callbacks=[monitor])
    history.history["output_spread"], history.history["dead_fraction"]
    ```
    """

    def __init__(self, generate, probe, targets=None, activations=None, atol=1e-6, name="generator",
                 verbose=False, collapse_ratio=0.05, prefix=""):
        super().__init__()
        self.prefix = prefix
        self.generate, self.probe, self.activations = generate, probe, activations
        self.target_spread = None if targets is None else spread(targets)
        self.atol, self.name, self.verbose, self.collapse_ratio = atol, name, verbose, collapse_ratio

    def measure(self):
        """The monitor's values for the generator as it is now."""
        values = {"output_spread": spread(self.generate(self.probe))}
        if self.target_spread is not None:
            values["target_spread"] = self.target_spread
        if self.activations is not None:
            values["dead_fraction"] = dead_fraction(self.activations(self.probe), self.atol)
        return values

    def collapsed(self, values):
        """True when `values` look like a collapse (see the class docstring)."""
        low = self.target_spread is not None and values["output_spread"] < self.collapse_ratio * self.target_spread
        return bool(low or values.get("dead_fraction", 0.0) >= 0.5)

    def on_epoch_end(self, epoch, logs=None):
        values = self.measure()
        if logs is not None:
            logs.update({self.prefix + k: v for k, v in values.items()})
        collapsed = self.collapsed(values)
        if self.verbose or collapsed:
            text = "; ".join(f"{self.prefix}{k} {v:.4f}" for k, v in values.items())
            # stderr, like Keras' progress: a command's stdout (e.g. the demo's summary) stays clean.
            print(f"[monitor {self.name} epoch {epoch + 1}] {text}{'  <- collapse?' if collapsed else ''}",
                  file=sys.stderr, flush=True)
