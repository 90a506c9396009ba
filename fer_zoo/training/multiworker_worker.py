"""One worker process of the loopback multi-worker tests (`multiworker_test.py`).

Run as `python -m fer_zoo.training.multiworker_worker MODE OUT_DIR RESULTS_DIR` with `TF_CONFIG`
set; it builds `get_strategy("multiworker")` before anything else runs in TensorFlow.

Modes:
    equivalence: a tiny GASCA stage (`AdversarialAutoencoder`, Adam G + SGD-Nesterov D) and a
        tiny REL-GAN (Adam G + Adam D), each trained for a few steps on the cluster through
        `StageRunner`; every worker saves its weights, and one worker per recipe also trains a
        plain (undistributed) copy from the same initial weights on the same global batches.
        Then each worker draws 4 numbers from a `ReplicaSeedGenerator` in a distributed step.
    resume: a tiny GASCA stage through `StageRunner` with a backup every 2 steps; with
        `--die-at-step N`, worker 1 kills itself (SIGKILL) after its N-th step.

Results (`RESULTS_DIR/<name>_worker<i>.npz`) are written by every worker on purpose: they are
the test's view of each worker, not run artefacts.
"""

import argparse
import json
import os
import pathlib
import signal
import sys
import time

_STARTED = time.monotonic()


def _log(message):
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", flush=True)


def _parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("equivalence", "resume"))
    parser.add_argument("out_dir")
    parser.add_argument("results_dir")
    parser.add_argument("--die-at-step", type=int, default=None)
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    # Before any TensorFlow op: collectives can only be configured at start-up.
    from fer_zoo.training.distribution import check_workers_agree, get_strategy, worker_index

    strategy = get_strategy("multiworker")
    _log(f"strategy ready: {strategy.num_replicas_in_sync} replicas")
    import keras
    import numpy as np
    import tensorflow as tf

    # Test speed only: grappler's graph rewrites cost more than these few tiny steps.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})

    results = pathlib.Path(args.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    rank = worker_index()
    if args.mode == "equivalence":
        recipes = (("gasca", _tiny_gasca, _gasca_data), ("relgan", _tiny_relgan, _relgan_data))
        for i, (name, build, data) in enumerate(recipes):
            reference = build()
            with strategy.scope():
                distributed = build()
            distributed.set_weights(reference.get_weights())
            np.savez(results / f"{name}_initial{rank}.npz", *[w.numpy() for w in reference.weights])
            _fit(distributed, data(), args.out_dir, name, epochs=2)
            _log(f"{name}: distributed fit done")
            np.savez(results / f"{name}_worker{rank}.npz", *[w.numpy() for w in distributed.weights])
            _save_iterations(results / f"{name}_worker{rank}.json", distributed)
            if i % 2 == rank:  # the undistributed run of one recipe per worker, to share the CPU
                reference.fit(data(), epochs=2, verbose=0)
                np.savez(results / f"{name}_reference.npz", *[w.numpy() for w in reference.weights])
                _log(f"{name}: undistributed fit done")
        # In-step randomness: each replica draws its own values (ReplicaSeedGenerator).
        from fer_zoo.training.gan import ReplicaSeedGenerator

        with strategy.scope():
            generator = ReplicaSeedGenerator(3)

        @tf.function
        def draw():
            return strategy.run(lambda: keras.random.uniform((4,), seed=generator))

        np.save(results / f"draw_worker{rank}.npy", strategy.experimental_local_results(draw())[0].numpy())
    else:
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = _tiny_gasca()
        callbacks = []
        if args.die_at_step is not None and rank == 1:
            callbacks.append(_DieAt(args.die_at_step))
        _fit(model, _gasca_data(n=32), args.out_dir, "gasca", epochs=3, backup_every=2, callbacks=callbacks)
        np.savez(results / f"resume_worker{rank}.npz", *[w.numpy() for w in model.weights])
        _save_iterations(results / f"resume_worker{rank}.json", model)
    # Leave together: a worker that outlives the chief (the coordination service's leader)
    # logs heartbeat errors.
    check_workers_agree("the end of the run", 1)
    _log(f"worker {rank}: done")
    return 0


def _fit(model, data, out_dir, stage, epochs, backup_every=50, callbacks=()):
    from fer_zoo.training import StageRunner

    runner = StageRunner(out_dir, backup_every=backup_every, tensorboard=False, verbose=0)
    return runner.fit(stage, model, data, epochs, callbacks=list(callbacks))


def _save_iterations(path, model):
    counts = {n: int(getattr(model, f"{n}_optimizer").iterations.numpy()) for n in model.optimizer_names}
    path.write_text(json.dumps(counts))


class _DieAt:
    """Keras callback (built lazily: keras is imported after the strategy) killing this process."""

    def __new__(cls, step):
        import keras

        class DieAt(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seen = 0

            def on_train_batch_end(self, batch, logs=None):
                self.seen += 1
                if self.seen == step:
                    sys.stdout.flush()
                    os.kill(os.getpid(), signal.SIGKILL)

        return DieAt()


def _tiny_gasca():
    """GASCA's stacked G / D at 8 px with 2 filters per layer, compiled as train.py does."""
    import keras

    from fer_zoo.recipes.gasca.models import GASCANetworks
    from fer_zoo.recipes.gasca.recipe import AdversarialAutoencoder
    from fer_zoo.recipes.gasca.train import _compile_gan

    keras.utils.set_random_seed(0)
    nets = GASCANetworks(image_size=8, filters=(2, 2), kernel_sizes=(3, 3), shifting_units=4)
    recipe = AdversarialAutoencoder(nets.stacked_generator(), nets.stacked_discriminator(),
                                    adversarial_weight=0.5, seed=0, name="gasca_tiny")
    return _compile_gan(recipe, 1e-2, 1e-2, clipnorm=None)


def _gasca_data(n=16, batch=8):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n, 8, 8, 1)).astype("float32")
    y = np.flip(x, axis=2).copy()
    # One fixed shuffle (Keras' symbolic build opens one extra iterator under a strategy, which
    # would shift a reshuffled order by one epoch against the undistributed run).
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=1, reshuffle_each_iteration=False).batch(batch)


def _tiny_relgan():
    """REL-GAN at its smallest size (32 px, five blocks), 2 filters per convolution, no norm."""
    import keras

    from fer_zoo.recipes.relgan.recipe import RELGAN

    keras.utils.set_random_seed(0)
    recipe = RELGAN(
        num_identities=3, num_expressions=7, seed=0, image_size=32, channels=1,
        encoder_filters=(2,) * 5, decoder_filters=(2,) * 5, discriminator_filters=(2,) * 4,
        discriminator_units=(8, 8, 8), expression_dim=4, identity_dim=4, mlp_units=(4,),
        # No normalisation: a bias followed by instance norm gets a zero gradient, whose float
        # noise Adam blows up to +-lr steps, so it cannot be compared across summation orders.
        norm=None,
    )
    recipe.compile(g_optimizer=keras.optimizers.Adam(1e-2, beta_1=0.5),
                   d_optimizer=keras.optimizers.Adam(1e-2, beta_1=0.5))
    return recipe


def _relgan_data(n=16, batch=8):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(1)
    images = {k: rng.uniform(-1, 1, (n, 32, 32, 1)).astype("float32") for k in ("source", "target", "ground_truth")}
    labels = {"source_expression": rng.integers(0, 7, n), "target_identity": rng.integers(0, 3, n)}
    return tf.data.Dataset.from_tensor_slices({**images, **labels}).shuffle(
        n, seed=2, reshuffle_each_iteration=False).batch(batch)


if __name__ == "__main__":
    sys.exit(main())
