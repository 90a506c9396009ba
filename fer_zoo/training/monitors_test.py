"""Tests of the generator collapse monitor (tiny, seeded, CPU)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_zoo.training.monitors import (
    GeneratorMonitor,
    dead_fraction,
    probe_rows,
    probe_with_targets,
    spread,
)


def probe(n=6, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 4, 4, 1)).astype("float32")


def test_constant_generator_has_zero_spread_and_identity_has_the_inputs():
    x = probe()
    constant = GeneratorMonitor(lambda p: np.zeros_like(p) + 0.3, x, targets=x).measure()
    assert constant["output_spread"] == 0.0
    identity = GeneratorMonitor(lambda p: p, x, targets=x).measure()
    assert identity["output_spread"] == pytest.approx(float(x.std(0).mean()), rel=1e-6)
    assert identity["target_spread"] == identity["output_spread"] > 0.1
    assert "dead_fraction" not in identity  # no activations function given


def test_relu_with_negative_preactivations_is_all_dead():
    x = probe()
    relu = keras.layers.Dense(5, activation="relu", bias_initializer=keras.initializers.Constant(-1.0),
                              kernel_initializer="zeros")
    values = GeneratorMonitor(lambda p: p, x, activations=lambda p: relu(p.reshape(len(p), -1))).measure()
    assert values["dead_fraction"] == 1.0
    # Half the units constant (a zero column), half varying with the input.
    mixed = np.concatenate([x.reshape(len(x), -1), np.zeros((len(x), 16))], axis=1)
    assert dead_fraction(mixed) == 0.5
    assert spread(mixed) == pytest.approx(float(x.std(0).mean()) / 2, rel=1e-6)


def test_fit_logs_the_values_every_epoch_and_flags_collapse(capsys):
    keras.utils.set_random_seed(0)
    x = probe(16)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile("sgd", "mse")
    monitor = GeneratorMonitor(lambda p: model(p, training=False), x[:4], targets=x[:4],
                               activations=lambda p: model(p, training=False), name="toy")
    history = model.fit(x, x, batch_size=8, epochs=2, verbose=0, callbacks=[monitor])
    for key in ("output_spread", "target_spread", "dead_fraction"):
        assert len(history.history[key]) == 2 and np.isfinite(history.history[key]).all(), key
    assert history.history["output_spread"][-1] > 0  # trained away from the all-zero start
    # An untrained all-zero generator is flagged even with verbose=False.
    collapsed = GeneratorMonitor(lambda p: np.zeros_like(p), x, targets=x, name="flat")
    collapsed.on_epoch_end(0, {})
    out = capsys.readouterr().err
    assert "[monitor flat epoch 1]" in out and "collapse?" in out


def test_prefix_names_the_logged_values():
    x = probe()
    logs = {"output_spread": 1.0}
    GeneratorMonitor(lambda p: p, x, targets=x, prefix="expression_").on_epoch_end(0, logs)
    assert set(logs) == {"output_spread", "expression_output_spread", "expression_target_spread"}
    assert logs["output_spread"] == 1.0  # another monitor's value is left alone


def test_probe_rows_prefers_the_marked_rows_and_is_seeded():
    preferred = np.zeros(20, bool)
    preferred[[3, 11]] = True
    rows = probe_rows(20, 5, seed=1, preferred=preferred)
    assert len(rows) == 5 and {3, 11} <= set(rows.tolist()) and list(rows) == sorted(rows)
    np.testing.assert_array_equal(rows, probe_rows(20, 5, seed=1, preferred=preferred))
    assert len(probe_rows(3, 8)) == 3
    images = np.arange(20.0)
    rows, targets = probe_with_targets(images, 2, 0, np.where(preferred, 0, -1))
    np.testing.assert_array_equal(rows, [3, 11])  # the two rows with a target
    np.testing.assert_array_equal(targets, [0.0, 0.0])
    assert probe_with_targets(images, 3, 0, np.where(preferred, 0, -1))[1] is None  # one lacks it


def test_stage_runner_writes_the_monitor_values_to_history_csv(tmp_path):
    from fer_zoo.training import StageRunner

    keras.utils.set_random_seed(0)
    x = probe(8)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    monitor = GeneratorMonitor(lambda p: model(p, training=False), x, activations=lambda p: model(p, training=False))
    history = StageRunner(tmp_path, tensorboard=False, verbose=0).fit(
        "stage", model, tf.data.Dataset.from_tensor_slices((x, x)).batch(4), epochs=2, callbacks=[monitor])
    header = (tmp_path / "stage" / "history.csv").read_text().splitlines()[0].split(",")
    assert {"output_spread", "dead_fraction"} <= set(header)
    assert len(history["output_spread"]) == 2
