"""Callbacks and the multi-stage runner: checkpoint/resume, TensorBoard, early stopping.

A recipe's algorithm is a sequence of named `fit` stages (GASCA: G^1/D^1, G^2/D^2, ...,
fine-tune G, fine-tune D, classifier). `StageRunner` runs each stage with a resumable backup,
marks it done with its final weights, and skips finished stages when the run is restarted, so a
crash at any point loses at most `backup_every` steps.

Multi-worker training (`fer_zoo.training.distribution`): every worker reads the run folder (it
must be shared), only the chief writes to it; the others write into a private temporary folder.
"""

import importlib.util
import json
import math
import os
import pathlib
import shutil
import sys

import keras

from fer_zoo.training.distribution import (
    check_workers_agree,
    is_chief,
    shard_for_workers,
    write_path,
)


def atomic_save_weights(model, path):
    """Write `model`'s weights to `path` via a temporary file + rename (never half-written)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name.replace(".weights.h5", "") + ".tmp.weights.h5")
    model.save_weights(str(tmp))
    os.replace(tmp, path)


def atomic_write_text(path, text):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _optimizer_iterations(model):
    """Sum of the iteration counts of `model`'s optimizers (recipes have several)."""
    names = getattr(model, "optimizer_names", ())
    optimizers = [getattr(model, f"{n}_optimizer", None) for n in names] or [model.optimizer]
    return sum(int(o.iterations.numpy()) for o in optimizers if o is not None and o.built)


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that also builds every optimizer of a multi-optimizer recipe before
    restoring, so their slots (Adam moments, iteration counts) come back exactly.

    Backups are written atomically (temporary file + rename), so a process killed mid-write
    leaves the previous backup intact. Under multi-worker training every worker restores from
    the (shared) backup folder and checks that all restored the same state; only the chief
    writes and deletes it, the others write theirs into a temporary folder and drop it.
    """

    def _load_model(self):
        if hasattr(self.model, "build_optimizers") and os.path.exists(self._weights_path):
            self.model.build_optimizers()
        super()._load_model()

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        # Also a barrier: no worker starts (and the chief cannot finish and delete the backup)
        # before every worker has restored.
        restored = os.path.exists(self._weights_path)
        check_workers_agree(f"whether to resume from {self.backup_dir}", restored)
        if restored:
            check_workers_agree(f"the epoch restored from {self.backup_dir}", self.model._initial_epoch or 0)
            check_workers_agree(f"the optimizer steps restored from {self.backup_dir}", _optimizer_iterations(self.model))

    def _save_model(self):
        backup_dir = write_path(self.backup_dir)
        backup_dir.mkdir(parents=True, exist_ok=True)
        weights = backup_dir / "latest.weights.h5"
        metadata = backup_dir / "training_metadata.json"
        if self.double_checkpoint:
            for path in (weights, metadata):
                if path.exists():
                    shutil.copyfile(path, f"{path}.bkp")
        atomic_save_weights(self.model, weights)
        atomic_write_text(metadata, json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))
        if not is_chief():
            shutil.rmtree(backup_dir, ignore_errors=True)

    def on_train_end(self, logs=None):
        if is_chief():
            super().on_train_end(logs)


_TENSORBOARD_NOTICE = (
    "fer_zoo: TensorBoard is not installed, so no TensorBoard logs are written (per-epoch metrics "
    "still go to history.csv); `pip install tensorboard` to get them."
)
_tensorboard_notice_shown = False


class DivergenceGuard(keras.callbacks.Callback):
    """Undo an epoch whose training loss blew up, and go on at a lower learning rate.

    When an epoch ends with `monitor` not finite or above `factor` x its value after the first
    epoch, the weights go back to where the last good epoch left them and the optimizer's
    learning rate is multiplied by `lr_factor` (a schedule is left alone). A run that never
    blows up is untouched: the guard only reads its logs. Each intervention is printed and kept
    in `events` (`(epoch, value, new learning rate)`).

    Why: FESR's identity network (Light CNN with max-feature-map units, Adam 1e-3) trained
    on 48 KDEF identities reached 78 % with one seed and, with another, jumped from loss 3.9 to
    52.6 in one epoch and never recovered (6.8 % after 15 epochs), which left R's trunk, copied
    from it, unable to learn (docs/fesr.md "KDEF 64 px").
    """

    def __init__(self, monitor="loss", factor=2.0, lr_factor=0.5):
        super().__init__()
        if factor <= 1 or not 0 < lr_factor < 1:
            raise ValueError(f"DivergenceGuard needs factor > 1 and 0 < lr_factor < 1; got {factor}, {lr_factor}.")
        self.monitor, self.factor, self.lr_factor = monitor, float(factor), float(lr_factor)
        self.events = []
        self._reference = None
        self._good = None

    def on_train_begin(self, logs=None):
        self._good = [w.copy() for w in self.model.get_weights()]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        finite = math.isfinite(value)
        if finite and self._reference is None:
            self._reference = value
        if finite and value <= self.factor * self._reference:
            self._good = [w.copy() for w in self.model.get_weights()]
            return
        self.model.set_weights(self._good)
        rate = getattr(self.model.optimizer, "learning_rate", None)
        new_rate = None
        if isinstance(rate, keras.Variable):
            new_rate = float(rate.numpy()) * self.lr_factor
            rate.assign(new_rate)
        self.events.append((int(epoch), value, new_rate))
        print(f"DivergenceGuard: epoch {epoch + 1} {self.monitor} {value:.4g} (first epoch {self._reference:.4g}): "
              f"weights restored to the last good epoch, learning rate now {new_rate}", file=sys.stderr)


def tensorboard_available():
    """True when the `tensorboard` package (which `tf.summary` needs) can be imported.

    TensorFlow no longer depends on it, so a base install has none: training then skips its
    TensorBoard logs with a one-line notice (once per process) instead of crashing.
    """
    global _tensorboard_notice_shown
    if importlib.util.find_spec("tensorboard") is not None:
        return True
    if not _tensorboard_notice_shown:
        _tensorboard_notice_shown = True
        print(_TENSORBOARD_NOTICE, file=sys.stderr)
    return False


def standard_callbacks(
    stage_dir,
    backup_every=50,
    tensorboard=True,
    early_stopping=None,
    csv=True,
):
    """The callbacks every stage gets.

    Args:
        stage_dir: folder of this stage (backup, logs and history go below it).
        backup_every: steps between resumable backups (`"epoch"` for once per epoch).
        tensorboard: write TensorBoard logs to `stage_dir/logs`.
        early_stopping: `None`, or a dict of `keras.callbacks.EarlyStopping` arguments
            (e.g. `{"monitor": "val_loss", "patience": 5}`).
        csv: append per-epoch metrics to `stage_dir/history.csv`.
    """
    stage_dir = pathlib.Path(stage_dir)
    callbacks = [ResumableBackup(str(stage_dir / "backup"), save_freq=backup_every)]
    # Logs: the chief's in stage_dir, the other workers' in their temporary folder.
    if tensorboard and tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(str(write_path(stage_dir / "logs")), write_graph=False))
    if csv:
        callbacks.append(keras.callbacks.CSVLogger(str(write_path(stage_dir / "history.csv")), append=True))
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(**{"restore_best_weights": True, **early_stopping}))
    return callbacks


class StageRunner:
    """Runs the named `fit` stages of a multi-stage algorithm, resumably.

    Args:
        out_dir: run folder; stage `name` lives in `out_dir/name/`.
        backup_every: steps between mid-epoch backups.
        tensorboard: write TensorBoard logs per stage.
        verbose: `fit` verbosity (1 = progress bar).

    Example:
    ```python
    runner = StageRunner("runs/gasca2")
    runner.fit("g1", recipe_g1, train_ds, epochs=10)
    runner.fit("g2", recipe_g2, codes_ds, epochs=10)  # skipped on restart if done
    ```
    """

    def __init__(self, out_dir, backup_every=50, tensorboard=True, verbose=1):
        self.out_dir = pathlib.Path(out_dir)
        write_path(self.out_dir).mkdir(parents=True, exist_ok=True)
        self.backup_every = backup_every
        self.tensorboard = tensorboard
        self.verbose = verbose

    def stage_dir(self, name):
        return self.out_dir / name

    def is_done(self, name):
        return (self.stage_dir(name) / "done.json").exists()

    def fit(self, name, model, data, epochs, early_stopping=None, callbacks=(), **fit_kwargs):
        """Fit `model` for stage `name` unless already done; returns the stage's history dict.

        A finished stage is not re-run: its final weights are loaded into `model` instead.
        Under multi-worker training `data` (and `validation_data`) are sharded across the
        workers (`shard_for_workers`) and only the chief writes the stage's files.
        """
        stage_dir = self.stage_dir(name)
        final = stage_dir / "final.weights.h5"
        done = self.is_done(name)
        check_workers_agree(f"whether stage {name!r} is finished", done)
        if done:
            if hasattr(model, "build_optimizers"):
                model.build_optimizers()
            model.load_weights(str(final))
            return json.loads((stage_dir / "done.json").read_text())["history"]
        write_path(stage_dir).mkdir(parents=True, exist_ok=True)
        data = shard_for_workers(data)
        if "validation_data" in fit_kwargs:
            fit_kwargs["validation_data"] = shard_for_workers(fit_kwargs["validation_data"])
        standard = standard_callbacks(
            stage_dir,
            backup_every=self.backup_every,
            tensorboard=self.tensorboard,
            early_stopping=early_stopping,
        )
        # The caller's callbacks run after the backup (restored first on resume) but before the
        # loggers and early stopping, so values they add to the epoch logs (e.g.
        # `fer_zoo.training.monitors.GeneratorMonitor`) reach history.csv and TensorBoard too.
        cbs = standard[:1] + list(callbacks) + standard[1:]
        history = model.fit(data, epochs=epochs, callbacks=cbs, verbose=self.verbose, **fit_kwargs)
        atomic_save_weights(model, write_path(final))
        hist = {k: [float(x) for x in v] for k, v in history.history.items()}
        atomic_write_text(write_path(stage_dir / "done.json"), json.dumps({"stage": name, "history": hist}))
        return hist
