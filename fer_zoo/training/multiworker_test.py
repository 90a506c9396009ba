"""Multi-worker training for real: two worker processes on 127.0.0.1 with TF_CONFIG.

The workers run `fer_zoo/training/multiworker_worker.py`; each test starts its processes with
timeouts, kills whatever is left in `finally`, and uses free loopback ports only.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from fer_zoo.training import distribution

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER_TIMEOUT = 240  # seconds a worker may run (start-up takes ~10 s on a busy 2-core CI box)


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_env(addresses, index):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}  # gRPC honours proxies
    env.update(
        TF_CONFIG=json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}),
        TF_CPP_MIN_LOG_LEVEL="2",
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
        CUDA_VISIBLE_DEVICES="-1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONPATH=os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p),
    )
    return env


def start_cluster(tmp_path, tag, *args):
    """Start two workers of `multiworker_worker` (logs in tmp_path/<tag>_worker<i>.log)."""
    addresses = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for i in range(2):
        log = open(tmp_path / f"{tag}_worker{i}.log", "w")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "fer_zoo.training.multiworker_worker", *args],
            cwd=REPO, env=worker_env(addresses, i), stdout=log, stderr=subprocess.STDOUT,
        ))
        log.close()
    return procs


def wait_all(procs, tmp_path, tag, timeout=WORKER_TIMEOUT):
    deadline = time.monotonic() + timeout
    for i, proc in enumerate(procs):
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {i} ({tag}) still running after {timeout} s:\n{log_tail(tmp_path, tag, i)}")
    return [p.returncode for p in procs]


def log_tail(tmp_path, tag, i, chars=3000):
    path = tmp_path / f"{tag}_worker{i}.log"
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def kill_all(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def load(path):
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


@pytest.mark.slow
def test_two_workers_match_each_other_and_the_single_process_step(tmp_path):
    """GASCA (Adam G + SGD D) and REL-GAN (two Adams), 2 epochs x 2 global batches of 8 split
    4 + 4 over two workers: identical weights on both workers, equal to one process training
    on the same global batches."""
    out, results = tmp_path / "run", tmp_path / "results"
    procs = start_cluster(tmp_path, "eq", "equivalence", str(out), str(results))
    try:
        codes = wait_all(procs, tmp_path, "eq")
    finally:
        kill_all(procs)
    for i, code in enumerate(codes):
        assert code == 0, log_tail(tmp_path, "eq", i)
    for name in ("gasca", "relgan"):
        w0, w1 = load(results / f"{name}_worker0.npz"), load(results / f"{name}_worker1.npz")
        reference = load(results / f"{name}_reference.npz")
        assert len(w0) == len(w1) == len(reference) > 4
        for a, b in zip(w0, w1):
            np.testing.assert_array_equal(a, b)  # all-reduced updates: bit-identical replicas
        for a, r in zip(w0, reference):
            np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-5)
        # The steps really moved the weights (the comparison is not one of initial values).
        initial = load(results / f"{name}_initial0.npz")
        assert max(float(np.abs(a - w).max()) for a, w in zip(w0, initial)) > 1e-3
        for i in range(2):
            assert json.loads((results / f"{name}_worker{i}.json").read_text()) == {"g": 4, "d": 4}
        # Only the chief wrote the run folder: one header and two epochs in history.csv.
        assert (out / name / "done.json").exists()
        assert len((out / name / "history.csv").read_text().strip().splitlines()) == 3
    assert not any(".tmp" in p.name for p in out.rglob("*"))  # every write was atomic and finished
    # Random draws inside a step differ between workers; worker 0 draws what one device draws.
    import keras

    draws = [np.load(results / f"draw_worker{i}.npy") for i in range(2)]
    assert np.abs(draws[0] - draws[1]).max() > 1e-3
    single = keras.random.uniform((4,), seed=keras.random.SeedGenerator(3))
    np.testing.assert_allclose(draws[0], np.asarray(single), rtol=1e-6)


@pytest.mark.slow
def test_killed_worker_cluster_restarts_from_the_chief_backup(tmp_path):
    """Worker 1 dies (SIGKILL) after step 5 of 12; the chief, stuck in the next all-reduce,
    is killed too; the restarted cluster resumes from the chief's step-4 backup with the
    optimizers' iteration counts (and Adam / momentum slots) restored."""
    out, results = tmp_path / "run", tmp_path / "results"
    backup = out / "gasca" / "backup" / "training_metadata.json"
    procs = start_cluster(tmp_path, "crash", "resume", str(out), str(results), "--die-at-step", "5")
    try:
        procs[1].wait(timeout=WORKER_TIMEOUT)
        assert procs[1].returncode == -signal.SIGKILL, log_tail(tmp_path, "crash", 1)
        # The chief saved after step 4 (before step 5, which needed worker 1) and then blocks.
        deadline = time.monotonic() + 30
        while not backup.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert backup.exists(), log_tail(tmp_path, "crash", 0)
        assert procs[0].poll() is None, log_tail(tmp_path, "crash", 0)
    finally:
        kill_all(procs)
    metadata = json.loads(backup.read_text())
    assert not (out / "gasca" / "done.json").exists()

    procs = start_cluster(tmp_path, "resume", "resume", str(out), str(results))
    try:
        codes = wait_all(procs, tmp_path, "resume")
    finally:
        kill_all(procs)
    for i, code in enumerate(codes):
        assert code == 0, log_tail(tmp_path, "resume", i)
    steps_per_epoch, epochs = 4, 3  # 32 examples, global batch 8
    expected = 4 + (epochs - metadata["epoch"]) * steps_per_epoch
    for i in range(2):
        counts = json.loads((results / f"resume_worker{i}.json").read_text())
        assert counts == {"g": expected, "d": expected}, (metadata, counts)
    for a, b in zip(load(results / "resume_worker0.npz"), load(results / "resume_worker1.npz")):
        np.testing.assert_array_equal(a, b)
    assert (out / "gasca" / "done.json").exists()
    assert not (out / "gasca" / "backup").exists()  # the chief removed it once the stage was done


def test_tf_config_errors_are_one_line(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable") as error:
        distribution.check_tf_config()
    assert "\n" not in str(error.value)
    bad = {
        "{not json": "not valid JSON",
        "[1, 2]": "must be a JSON object",
        '{"task": {"type": "worker", "index": 0}}': "no 'cluster'",
        '{"cluster": {"worker": ["127.0.0.1:1"]}}': "no 'task'",
        '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "ps", "index": 0}}': "not a job",
        '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}': "out of range",
        '{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}': "host:port",
    }
    for text, message in bad.items():
        with pytest.raises(ValueError, match=message) as error:
            distribution.check_tf_config(text)
        assert "\n" not in str(error.value)
    config = distribution.check_tf_config(
        '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    )
    assert config["task"]["index"] == 1


def test_strategy_names_and_single_process_defaults(monkeypatch):
    with pytest.raises(ValueError, match="multiworker or tpu"):
        distribution.get_strategy("ring")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribution.get_strategy("multiworker")
    # One task in TF_CONFIG: "auto" stays on this machine (no collectives are configured).
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}')
    assert "MultiWorker" not in type(distribution.get_strategy("auto")).__name__
    # Without a multi-worker cluster every process is the chief and writes in place.
    assert distribution.is_chief() and distribution.num_workers() == 1 and distribution.worker_index() == 0
    assert str(distribution.write_path("runs/x/summary.json")) == "runs/x/summary.json"
    assert distribution.worker_seed(5) == 5
    distribution.check_workers_agree("anything", 3)  # no-op


def test_multiworker_after_tensorflow_started_is_a_clear_error(monkeypatch):
    import tensorflow as tf

    tf.constant(1.0)  # TensorFlow is running in this (pytest) process
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}')
    monkeypatch.setattr(distribution, "_multi_worker", None)
    with pytest.raises(RuntimeError, match="before TensorFlow runs any op"):
        distribution.get_strategy("multiworker")


def test_tpu_without_a_tpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no TPU reachable") as error:
        distribution.get_strategy("tpu")
    assert "\n" not in str(error.value)
