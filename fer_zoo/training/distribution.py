"""`tf.distribute` helpers: pick a strategy by name, multi-worker chores, split a CPU.

Multi-worker training (docs/distributed.md): every machine runs the same command with its own
`TF_CONFIG`; `get_strategy("multiworker")` builds one `MultiWorkerMirroredStrategy` per process
(it must come before TensorFlow runs any op). Then

* `shard_for_workers(dataset)` makes each worker read its part of every global batch
  (auto-shard policy DATA: every worker builds the same pipeline and keeps its slice);
* `is_chief()` / `write_path(path)`: only the chief writes to the run folder; the other workers
  write the same files into a private temporary folder (the Keras multi-worker convention), so
  any collective a save may need still runs on every worker;
* `check_workers_agree(what, value)`: a cheap all-reduce that fails loudly (instead of hanging)
  when workers reach different decisions, e.g. a run folder that is not shared.
"""

import atexit
import json
import os
import pathlib
import shutil
import tempfile

import tensorflow as tf

STRATEGY_NAMES = ("default", "auto", "mirrored", "mirrored-cpu:N", "multiworker", "tpu")

# The process's multi-worker strategy: TensorFlow can configure collectives only once.
_multi_worker = None
_worker_temp_root = None


def split_cpu(n_devices=2):
    """Split the first CPU into `n_devices` logical devices (before TF initialises devices).

    Lets MirroredStrategy be exercised on a CPU-only machine (tests, CI).
    """
    cpus = tf.config.list_physical_devices("CPU")
    existing = tf.config.get_logical_device_configuration(cpus[0])
    if existing and len(existing) >= n_devices:
        return
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n_devices)]
    )


def get_strategy(name="default"):
    """Return a `tf.distribute.Strategy`.

    Args:
        name: `"default"` (no distribution), `"mirrored"` (all local GPUs, or the CPU),
            `"mirrored-cpu:N"` (CPU split into N logical devices; must run before TF touches
            devices), `"multiworker"` (`MultiWorkerMirroredStrategy` over the cluster in
            `TF_CONFIG`; must run before TF runs any op, and returns the same object when
            called again), `"tpu"` (`TPUStrategy` on the TPU found by `TPUClusterResolver()`)
            or `"auto"` (multi-worker when `TF_CONFIG` names more than one task, else mirrored
            when there are several GPUs, else default).

    Raises:
        ValueError: unknown name, or `TF_CONFIG` missing / invalid for `"multiworker"`.
        RuntimeError: `"multiworker"` requested after TensorFlow started, or no TPU reachable.
    """
    if name in (None, "default", "none"):
        return tf.distribute.get_strategy()
    if name == "auto":
        config = _parse_tf_config(os.environ.get("TF_CONFIG"))
        if config is not None and _cluster_tasks(config) > 1:
            return multi_worker_strategy()
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name.startswith("mirrored-cpu:"):
        n = int(name.split(":", 1)[1])
        split_cpu(n)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:n]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name in ("multiworker", "multi-worker", "multi_worker"):
        return multi_worker_strategy()
    if name == "tpu":
        return tpu_strategy()
    raise ValueError(
        f"Unknown strategy {name!r}: expected default, auto, mirrored, mirrored-cpu:N, multiworker or tpu."
    )


# ------------------------------------------------------------------------------------ TF_CONFIG


def _parse_tf_config(text):
    """The `TF_CONFIG` dict, or None when unset/empty; ValueError when it is not valid JSON."""
    if not text or not text.strip():
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error.msg} at character {error.pos}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object, got {type(config).__name__}.")
    return config


def _cluster_tasks(config):
    """Tasks of the `chief` and `worker` jobs of a parsed `TF_CONFIG`."""
    cluster = config.get("cluster") or {}
    if not isinstance(cluster, dict):
        return 0
    return sum(len(cluster.get(job) or ()) for job in ("chief", "worker"))


def check_tf_config(text=None):
    """Validate `TF_CONFIG` (default: the environment's) for multi-worker training.

    Returns the parsed dict; raises `ValueError` with a one-line reason otherwise.
    """
    text = os.environ.get("TF_CONFIG") if text is None else text
    config = _parse_tf_config(text)
    example = (
        'e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}\' (docs/distributed.md)'
    )
    if config is None:
        raise ValueError(f"--strategy multiworker needs the TF_CONFIG environment variable, {example}.")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not _cluster_tasks(config):
        raise ValueError(f"TF_CONFIG has no 'cluster' with 'worker' (or 'chief') addresses, {example}.")
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise ValueError(f"TF_CONFIG cluster job {job!r} must be a list of 'host:port' strings, got {addresses!r}.")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"TF_CONFIG has no 'task' {{'type': ..., 'index': ...}} naming this process, {example}.")
    job = task["type"]
    if job not in cluster:
        raise ValueError(f"TF_CONFIG task type {job!r} is not a job of its cluster {sorted(cluster)}.")
    if not isinstance(task["index"], int) or not 0 <= task["index"] < len(cluster[job]):
        raise ValueError(
            f"TF_CONFIG task index {task['index']!r} is out of range for job {job!r} "
            f"({len(cluster[job])} address(es))."
        )
    return config


# ------------------------------------------------------------------------------------ strategies


def multi_worker_strategy():
    """The process's `MultiWorkerMirroredStrategy` (created on first call, from `TF_CONFIG`)."""
    global _multi_worker
    if _multi_worker is not None:
        return _multi_worker
    check_tf_config()
    from tensorflow.python.eager import context

    if context.context()._context_handle is not None:  # no public probe exists
        raise RuntimeError(
            "MultiWorkerMirroredStrategy must be created before TensorFlow runs any op: call "
            "get_strategy('multiworker') first thing in the program (fer-zoo train does)."
        )
    _patch_keras_for_multi_worker()
    _multi_worker = tf.distribute.MultiWorkerMirroredStrategy()
    return _multi_worker


def tpu_strategy():
    """A `TPUStrategy` on the TPU that `TPUClusterResolver()` finds (TPU VM, `TPU_NAME`, ...)."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RuntimeError(f"--strategy tpu: no TPU reachable ({reason}).") from None
    return tf.distribute.TPUStrategy(resolver)


def active_multi_worker_strategy():
    """The multi-worker strategy of this process when it spans several workers, else None."""
    if _multi_worker is not None and _multi_worker.extended._in_multi_worker_mode():
        return _multi_worker
    return None


def num_workers():
    """Workers taking part in training (1 without a multi-worker strategy)."""
    strategy = active_multi_worker_strategy()
    return strategy.extended._num_workers if strategy is not None else 1


def worker_index():
    """This worker's rank in the cluster (0 = chief; 0 without a multi-worker strategy)."""
    strategy = active_multi_worker_strategy()
    return strategy.extended._id_in_cluster if strategy is not None else 0


def is_chief():
    """True unless this process is a non-chief worker of a multi-worker cluster."""
    strategy = active_multi_worker_strategy()
    return strategy is None or bool(strategy.extended.should_checkpoint)


def num_replicas():
    """Replicas in sync of the strategy in scope (1 outside any strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


# ---------------------------------------------------------------------------- multi-worker chores


def worker_temp_root():
    """This non-chief worker's private temporary folder (removed when the process exits)."""
    global _worker_temp_root
    if _worker_temp_root is None:
        _worker_temp_root = pathlib.Path(tempfile.mkdtemp(prefix=f"fer_zoo_worker{worker_index()}_"))
        atexit.register(shutil.rmtree, _worker_temp_root, ignore_errors=True)
    return _worker_temp_root


def write_path(path):
    """Where this process writes `path`: `path` itself on the chief (and without multi-worker),
    the same relative place in `worker_temp_root()` on the other workers."""
    path = pathlib.Path(path)
    if is_chief():
        return path
    absolute = pathlib.Path(os.path.abspath(path))
    target = worker_temp_root() / absolute.relative_to(absolute.anchor)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def shard_for_workers(data):
    """`data` with auto-shard policy DATA when it is a `tf.data.Dataset` and training spans
    several workers (other inputs and single-worker runs pass through unchanged).

    Every worker builds the same pipeline (same seeds: shuffles and SynthFER renders agree) and
    keeps its slice of each global batch, so a global batch means the same as on one machine.
    A policy set explicitly on the dataset (other than AUTO) is kept.
    """
    if active_multi_worker_strategy() is None or not isinstance(data, tf.data.Dataset):
        return data
    policy = data.options().experimental_distribute.auto_shard_policy
    if policy != tf.data.experimental.AutoShardPolicy.AUTO:
        return data
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options)


def worker_seed(seed):
    """A seed for data each worker generates on its own (e.g. SynthFER faces rendered per worker
    behind `distribute_datasets_from_function`): `seed` on worker 0, distinct on the others.

    Not for pipelines sharded with `shard_for_workers`, which need the same seed everywhere.
    """
    return None if seed is None else int(seed) + 1_000_003 * worker_index()


_agree_functions = {}


def check_workers_agree(what, value):
    """Raise `RuntimeError` on every worker when workers hold different numbers `value`.

    A no-op without multi-worker training; otherwise one small all-reduce (which also makes
    every worker wait for the others: a barrier). Used where workers decide something from the
    run folder (a finished stage, the epoch to resume from): diverging there would hang the
    cluster on mismatched collectives.
    """
    strategy = active_multi_worker_strategy()
    if strategy is None:
        return
    function = _agree_functions.get(id(strategy))
    if function is None:

        @tf.function
        def function(x):
            per_replica = strategy.run(lambda: tf.identity(x))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        _agree_functions[id(strategy)] = function
    v = float(value)
    total, squares, count = (float(t) for t in function(tf.constant([v, v * v, 1.0], tf.float64)).numpy())
    # All equal <=> count * sum(x^2) == sum(x)^2 (Cauchy-Schwarz).
    if abs(count * squares - total * total) > 1e-9 * max(1.0, count * squares):
        raise RuntimeError(
            f"Workers disagree on {what} (this worker: {value!r}, mean over workers: {total / count:g}). "
            "Every worker must see the same run folder: put --out on a shared file system (docs/distributed.md)."
        )


# -------------------------------------------------------------------- Keras 3.15 multi-worker fixes

_patched = False


def _patch_keras_for_multi_worker():
    """Work around two Keras 3 bugs that stop `fit` under `MultiWorkerMirroredStrategy`
    (keras-team/keras#20585): both only change behaviour in multi-worker mode.

    * `_maybe_symbolic_build` all-reduces the first batch (a nested structure, which the
      collective reduce rejects) only to read its shapes: use this worker's first replica batch.
    * `reduce_per_replica(..., "mean")` reduces scalar metrics with `axis=0`: use `axis=None`.
    """
    global _patched
    if _patched:
        return
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = tf_trainer.reduce_per_replica

    def local(strategy, value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or iterator is None or not tf_trainer._collective_all_reduce_multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            data_batch = tree.map_structure(lambda v: local(strategy, v), next(batches))
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):

            def reduce(v):
                rank = tf.convert_to_tensor(local(strategy, v)).shape.rank
                return strategy.reduce("MEAN", v, axis=0 if rank else None)

            return tree.map_structure(reduce, values)
        return original_reduce(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _patched = True
