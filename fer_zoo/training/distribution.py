"""`tf.distribute` helpers: pick a strategy by name, split a CPU into logical devices."""

import tensorflow as tf


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
            devices) or `"auto"` (mirrored when there are several GPUs, else default).
    """
    if name in (None, "default", "none"):
        return tf.distribute.get_strategy()
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name.startswith("mirrored-cpu:"):
        n = int(name.split(":", 1)[1])
        split_cpu(n)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:n]
        return tf.distribute.MirroredStrategy(devices=devices)
    raise ValueError(f"Unknown strategy {name!r}: expected default, auto, mirrored or mirrored-cpu:N.")


def num_replicas():
    """Replicas in sync of the strategy in scope (1 outside any strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync
