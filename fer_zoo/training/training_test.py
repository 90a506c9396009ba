"""Tests of the training core: precision switch, loss scaling, distribution, checkpoint/resume."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_zoo.training import AdversarialRecipe, StageRunner, optimizer_step, set_precision
from fer_zoo.training.gan import prepare_optimizer


class ToyGAN(AdversarialRecipe):
    """A two-network recipe small enough to reason about exactly."""

    optimizer_names = ("g", "d")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)], name="g")
        self.discriminator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="d")
        self.add_tracker("g_loss")
        self.add_tracker("d_loss")

    def optimizer_variables_for(self, name):
        net = self.generator if name == "g" else self.discriminator
        return net.trainable_variables

    def call(self, x):
        return self.generator(x)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            d_real = self.discriminator(y)
            d_fake = self.discriminator(self.generator(x))
            d_loss = tf.reduce_mean(tf.cast(d_fake - d_real, "float32"))
        optimizer_step(tape, d_loss, self.discriminator.trainable_variables, self.d_optimizer)
        with tf.GradientTape() as tape:
            fake = self.generator(x)
            g_loss = tf.reduce_mean(tf.abs(tf.cast(fake, "float32") - y)) - tf.reduce_mean(
                tf.cast(self.discriminator(fake), "float32")
            )
        optimizer_step(tape, g_loss, self.generator.trainable_variables, self.g_optimizer)
        return self.update_trackers({"g_loss": g_loss, "d_loss": d_loss})


def toy_data(n=32, batch=8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, ::-1] * 0.5).copy()
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def make_toy(seed=1):
    keras.utils.set_random_seed(seed)
    model = ToyGAN(seed=seed)
    model.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.SGD(1e-2))
    model(np.zeros((1, 4), "float32"))
    model.discriminator(np.zeros((1, 4), "float32"))
    return model


@pytest.fixture
def restore_policy():
    policy = keras.config.dtype_policy().name
    yield
    keras.config.set_dtype_policy(policy)


def test_mixed_precision_picks_bfloat16_on_cpu(restore_policy):
    assert set_precision("mixed") == "mixed_bfloat16"
    assert keras.config.dtype_policy().compute_dtype == "bfloat16"
    with pytest.raises(ValueError, match="Unknown precision"):
        set_precision("int8")


def test_float16_policy_wraps_optimizers_in_loss_scaling(restore_policy):
    set_precision("mixed_float16")
    opt = prepare_optimizer(keras.optimizers.Adam())
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    set_precision("float32")
    assert not isinstance(prepare_optimizer(keras.optimizers.Adam()), keras.optimizers.LossScaleOptimizer)


def test_toy_recipe_trains_under_mixed_bfloat16(restore_policy):
    set_precision("mixed_bfloat16")
    model = make_toy()
    assert model.generator.layers[-1].compute_dtype == "bfloat16"
    history = model.fit(toy_data(), epochs=2, verbose=0)
    assert np.isfinite(history.history["g_loss"]).all()


def test_each_optimizer_updates_only_its_network():
    model = make_toy()
    g_before = [v.numpy().copy() for v in model.generator.weights]
    x, y = next(iter(toy_data()))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.discriminator(y))
    grads = optimizer_step(tape, loss, model.discriminator.trainable_variables, model.d_optimizer)
    assert all(g is not None for g in grads)
    for before, after in zip(g_before, model.generator.weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_compile_rejects_unknown_optimizer_names():
    with pytest.raises(TypeError, match="g_optimizer, d_optimizer"):
        ToyGAN().compile(e_optimizer=keras.optimizers.Adam())


def test_xla_is_auto_off_on_cpu_and_can_be_forced():
    model = ToyGAN()
    model.compile()
    has_accelerator = any(d.device_type != "CPU" for d in tf.config.list_physical_devices())
    # Keras' "auto": XLA only with an accelerator (XLA:CPU was slower for every recipe here).
    assert model.jit_compile is has_accelerator
    forced = ToyGAN()
    forced.compile(jit_compile=True)
    assert forced.jit_compile is True


class CrashAfter(keras.callbacks.Callback):
    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batches:
            raise RuntimeError("simulated crash")


def test_stage_runner_resumes_after_crash_with_optimizer_state(tmp_path):
    runner = StageRunner(tmp_path, backup_every=2, tensorboard=False, verbose=0)
    model = make_toy()
    with pytest.raises(RuntimeError, match="simulated crash"):
        runner.fit("stage1", model, toy_data(), epochs=3, callbacks=[CrashAfter(7)])
    assert (tmp_path / "stage1" / "backup").exists()
    assert not runner.is_done("stage1")
    crashed_g = [v.numpy().copy() for v in model.generator.weights]
    saved_epoch = json.loads((tmp_path / "stage1" / "backup" / "training_metadata.json").read_text())

    resumed = make_toy(seed=2)  # fresh process state: different init
    resumed.build_optimizers()
    history = runner.fit("stage1", resumed, toy_data(), epochs=3)
    # Restored mid-run: Adam's iteration count continues from the 6 backed-up steps.
    steps_per_epoch = 4
    done_epochs = saved_epoch["epoch"]
    assert int(resumed.g_optimizer.iterations.numpy()) == 6 + (3 - done_epochs) * steps_per_epoch
    assert len(history["g_loss"]) == 3 - done_epochs
    assert runner.is_done("stage1")
    assert not all(np.array_equal(a, b.numpy()) for a, b in zip(crashed_g, resumed.generator.weights))

    # A finished stage is skipped and its final weights are loaded instead.
    again = make_toy(seed=3)
    runner.fit("stage1", again, toy_data(), epochs=3)
    for a, b in zip(resumed.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import numpy as np, tensorflow as tf, keras
    from fer_zoo.training import get_strategy
    from fer_zoo.training.training_test import make_toy, toy_data
    strategy = get_strategy("mirrored-cpu:2")
    assert strategy.num_replicas_in_sync == 2
    plain = make_toy()
    with strategy.scope():
        mirrored = make_toy()
    plain.fit(toy_data(n=8, batch=8).take(1), epochs=1, verbose=0)
    mirrored.fit(strategy.experimental_distribute_dataset(toy_data(n=8, batch=8).take(1)), epochs=1, verbose=0)
    diffs = [float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(plain.weights, mirrored.weights)]
    print("MAXDIFF", max(diffs))
    """
)


def test_one_mirrored_step_equals_the_single_device_step():
    # Logical CPU devices must be configured before TF initialises, hence a fresh process.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", DISTRIBUTED_SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    maxdiff = float(out.stdout.split("MAXDIFF")[1].split()[0])
    assert maxdiff < 1e-5


def test_training_without_tensorboard_skips_its_logs_with_a_notice(tmp_path, monkeypatch, capsys):
    """A base install has no tensorboard (TensorFlow no longer pulls it in): training must
    run, say so once, and still write history.csv."""
    from fer_zoo.training import callbacks

    find_spec = callbacks.importlib.util.find_spec
    monkeypatch.setattr(callbacks.importlib.util, "find_spec",
                        lambda name, *args: None if name == "tensorboard" else find_spec(name, *args))
    monkeypatch.setattr(callbacks, "_tensorboard_notice_shown", False)
    runner = StageRunner(tmp_path, backup_every=2, tensorboard=True, verbose=0)
    runner.fit("stage1", make_toy(), toy_data(), epochs=1)
    runner.fit("stage2", make_toy(), toy_data(), epochs=1)
    assert runner.is_done("stage2")
    assert not (tmp_path / "stage1" / "logs").exists()
    assert (tmp_path / "stage1" / "history.csv").read_text().count("\n") == 2
    assert capsys.readouterr().err.count("TensorBoard is not installed") == 1


def test_training_with_tensorboard_writes_its_logs(tmp_path):
    pytest.importorskip("tensorboard")
    StageRunner(tmp_path, tensorboard=True, verbose=0).fit("stage1", make_toy(), toy_data(), epochs=1)
    assert any((tmp_path / "stage1" / "logs").rglob("*tfevents*"))


def test_divergence_guard_restores_the_last_good_epoch_and_lowers_the_rate():
    from fer_zoo.training.callbacks import DivergenceGuard

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    guard = DivergenceGuard(factor=2.0, lr_factor=0.5)
    guard.set_model(model)
    guard.on_train_begin()
    guard.on_epoch_end(0, {"loss": 4.0})
    good = [w.copy() for w in model.get_weights()]
    guard.on_epoch_end(1, {"loss": 7.9})  # within 2x: accepted, weights kept
    model.set_weights([w + 1.0 for w in good])  # the next epoch moves the weights...
    guard.on_epoch_end(2, {"loss": 52.6})  # ...and blows up: back to epoch 2's weights
    for restored, expected in zip(model.get_weights(), good):
        np.testing.assert_allclose(restored, expected)
    np.testing.assert_allclose(float(model.optimizer.learning_rate.numpy()), 5e-4, rtol=1e-6)
    guard.on_epoch_end(3, {"loss": float("nan")})
    np.testing.assert_allclose(float(model.optimizer.learning_rate.numpy()), 2.5e-4, rtol=1e-6)
    assert [e[0] for e in guard.events] == [2, 3]


def test_set_overrides_parse_json_values_and_refuse_pairs_without_a_key():
    from fer_zoo.training.overrides import parse_overrides

    assert parse_overrides(["epochs=2", "poses=[\"S\"]", "mode=balanced", " lr =1e-3"]) == {
        "epochs": 2, "poses": ["S"], "mode": "balanced", "lr": 1e-3}
    assert parse_overrides(None) == {}
    for bad in ("epochs", "=2", " =2"):
        with pytest.raises(ValueError, match="key=value"):
            parse_overrides([bad])
