"""Base class and helpers for recipes trained with several optimizers (GANs).

Conventions every recipe follows (see docs/architecture.md):

* networks are functional `keras.Model`s built by `fer_zoo.recipes.<paper>.models`;
* the recipe is a `keras.Model` subclass owning those networks, with its own
  `compile(<name>_optimizer=..., ...)`, `train_step`, `test_step`, and `keras.metrics.Mean`
  trackers created in `__init__` and exposed through `metrics`;
* every gradient update goes through `optimizer_step`, which applies the replica scaling that
  `tf.distribute` expects and the loss scaling that `mixed_float16` needs.

Under `MirroredStrategy`, `MultiWorkerMirroredStrategy` and `TPUStrategy` alike, each replica
computes its losses as means over its own slice of the global batch; `optimizer_step` divides
them by `num_replicas_in_sync` (every replica of every worker) and the optimizer sums the
gradients over all replicas in one all-reduce per `apply_gradients`. The update is therefore the
gradient of the mean over the global batch, the same as one device on that batch (tested with
two worker processes in `multiworker_test.py`). Per-replica statistics (BatchNormalization
without `synchronized=True`, minibatch features) and random draws inside a step still see only
the replica's slice; the recipes' own draws (noise, priors, target classes, gradient-penalty
weights) come from `ReplicaSeedGenerator`, which gives every replica its own stream.
"""

import keras
import tensorflow as tf

from fer_zoo.training.distribution import shard_for_workers
from fer_zoo.training.precision import needs_loss_scaling


def prepare_optimizer(optimizer):
    """Wrap `optimizer` in `LossScaleOptimizer` when the global policy computes in float16."""
    if optimizer is None:
        return None
    if isinstance(optimizer, str | dict):
        optimizer = keras.optimizers.get(optimizer)
    if needs_loss_scaling() and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def replica_scaled(loss):
    """Divide a per-replica mean loss by the replica count (gradients are summed across them).

    `num_replicas_in_sync` counts the replicas of every worker, so a per-replica mean becomes
    its share of the global-batch mean under multi-worker training too (exact when every
    replica gets the same number of examples: drop or pad a last partial global batch).
    """
    n = tf.distribute.get_strategy().num_replicas_in_sync
    loss = tf.cast(loss, "float32")
    return loss / n if n > 1 else loss


def optimizer_step(tape, loss, variables, optimizer):
    """Compute gradients of `loss` w.r.t. `variables` on `tape` and apply them.

    Handles distribution (loss divided by replicas, gradients all-reduced once, by the
    optimizer's `apply_gradients`, across every replica of every worker) and float16 loss
    scaling (the wrapped optimizer scales the loss and unscales the gradients).
    Variables without a gradient are skipped so a frozen part never breaks a step.

    Returns:
        The list of gradients (unscaled only when no loss scaling is active), aligned with
        `variables`, for tests that check which variables a loss reaches.
    """
    # Re-entering the tape records the scaling ops, so gradients flow through them.
    with tape:
        scaled_loss = optimizer.scale_loss(replica_scaled(loss))
    grads = tape.gradient(scaled_loss, variables)
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    if pairs:
        optimizer.apply_gradients(pairs)
    return grads


class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """`keras.random.SeedGenerator` whose draws differ between the replicas of a distributed step.

    A plain SeedGenerator's state is mirrored, so every replica (every GPU, every worker) would
    draw the same noise for its slice of the batch: a global batch of 8 x 32 would hold 8 copies
    of one set of 32 latent codes. This one offsets the drawn seed by the replica's global id;
    replica 0, and any run without distribution, draws exactly what a SeedGenerator draws.
    The state (a 2-vector variable) and its checkpoints are those of a SeedGenerator.
    """

    def __init__(self, seed=None, name="seed_generator", **kwargs):
        super().__init__(seed=seed, name=name, **kwargs)

    def next(self, ordered=True):
        seed = super().next(ordered=ordered)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return seed
        replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
        return seed + tf.stack([replica * 7919, tf.zeros((), seed.dtype)])


@keras.saving.register_keras_serializable(package="fer_zoo")
class AdversarialRecipe(keras.Model):
    """Base of the recipe models: seeded randomness, loss trackers, named optimizers.

    Subclasses list their optimizer names in `optimizer_names`, create their networks and call
    `self.add_tracker(...)` in `__init__`, and implement `train_step` with `optimizer_step`.

    Args:
        seed: int, seed of the recipe's `ReplicaSeedGenerator` (noise, priors,
            gradient-penalty interpolation; distinct per replica under distribution).
        **kwargs: forwarded to `keras.Model`.
    """

    optimizer_names = ()

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = ReplicaSeedGenerator(seed)
        self._trackers = {}

    def add_tracker(self, name):
        tracker = keras.metrics.Mean(name=name)
        self._trackers[name] = tracker
        return tracker

    @property
    def metrics(self):
        return list(self._trackers.values())

    def update_trackers(self, values):
        for name, value in values.items():
            self._trackers[name].update_state(value)
        return {name: self._trackers[name].result() for name in self._trackers}

    def compile(self, jit_compile="auto", steps_per_execution=1, **optimizers):
        """Attach one optimizer per name in `optimizer_names` (`g_optimizer=...`, ...).

        Missing optimizers default to Adam(1e-4, beta_1=0.5). Each is wrapped for loss scaling
        when the dtype policy is mixed_float16.

        `jit_compile="auto"` (Keras' rule) compiles the step with XLA when an accelerator is
        visible and not on CPU-only machines, where XLA:CPU measured slower than TensorFlow's
        oneDNN kernels for every recipe (docs/performance.md); pass True/False to force it.
        """
        # optimizer=None: Keras would otherwise attach an unused RMSprop that pollutes checkpoints.
        super().compile(
            optimizer=None, jit_compile=jit_compile, steps_per_execution=steps_per_execution
        )
        unknown = set(optimizers) - {f"{n}_optimizer" for n in self.optimizer_names}
        if unknown:
            expected = ", ".join(f"{n}_optimizer" for n in self.optimizer_names)
            raise TypeError(f"compile() got unexpected {sorted(unknown)}; expected {expected}.")
        for name in self.optimizer_names:
            opt = optimizers.get(f"{name}_optimizer")
            if opt is None:
                opt = keras.optimizers.Adam(1e-4, beta_1=0.5)
            setattr(self, f"{name}_optimizer", prepare_optimizer(opt))

    def optimizer_variables_for(self, name):
        """The variables optimizer `name` updates (override per recipe)."""
        raise NotImplementedError

    def build_optimizers(self):
        """Create optimizer slots now so checkpoints restore into them (resume)."""
        for name in self.optimizer_names:
            opt = getattr(self, f"{name}_optimizer", None)
            if opt is not None and not opt.built:
                opt.build(self.optimizer_variables_for(name))

    def fit(self, *args, **kwargs):
        # Optimizer slots must exist before the (possibly distributed) step function is traced:
        # creating them lazily inside a replica context fails under MirroredStrategy.
        with self.distribute_strategy.scope():
            self.build_optimizers()
        # Multi-worker: each worker keeps its slice of every global batch (policy DATA).
        if args:
            args = (shard_for_workers(args[0]), *args[1:])
        elif "x" in kwargs:
            kwargs["x"] = shard_for_workers(kwargs["x"])
        if "validation_data" in kwargs:
            kwargs["validation_data"] = shard_for_workers(kwargs["validation_data"])
        return super().fit(*args, **kwargs)

    def test_step(self, data):
        raise NotImplementedError(f"{type(self).__name__} must implement test_step.")
