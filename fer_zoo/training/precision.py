"""Mixed-precision switch.

`mixed_float16` needs loss scaling and pays off on GPUs with tensor cores; on CPU the
numerically safe choice is `mixed_bfloat16` (no loss scaling needed, same exponent range as
float32). `set_precision("mixed")` picks the right one for the machine.
"""

import keras
import tensorflow as tf

_ALIASES = {"fp32": "float32", "float32": "float32", "fp16": "mixed_float16", "bf16": "mixed_bfloat16"}


def set_precision(policy="float32"):
    """Set Keras' global dtype policy and return its name.

    Args:
        policy: `"float32"`, `"mixed"` (mixed_float16 on GPU, mixed_bfloat16 on CPU),
            `"mixed_float16"`, `"mixed_bfloat16"` or the aliases `fp32`, `fp16`, `bf16`.
            `None` leaves the policy unchanged.

    Example:
    >>> set_precision("mixed")  # doctest: +SKIP
    'mixed_bfloat16'
    """
    if policy is None:
        return keras.config.dtype_policy().name
    policy = _ALIASES.get(policy, policy)
    if policy == "mixed":
        policy = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    if policy not in ("float32", "mixed_float16", "mixed_bfloat16"):
        raise ValueError(
            f"Unknown precision {policy!r}: expected float32, mixed, mixed_float16 or mixed_bfloat16."
        )
    keras.config.set_dtype_policy(policy)
    return policy


def needs_loss_scaling():
    """True when the global policy computes in float16 (gradients may underflow)."""
    return keras.config.dtype_policy().compute_dtype == "float16"
