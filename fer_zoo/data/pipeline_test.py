import numpy as np
import pytest

import fer_zoo.data as data
from fer_zoo.data import pipeline
from fer_zoo.data.faceset import EXPRESSIONS, FaceSet


def _fake_faceset(n_ids=6):
    rng = np.random.default_rng(0)
    identity = np.repeat(np.arange(n_ids), 4)
    labels = {
        "identity": identity,
        "expression": np.tile([0, 3, 4, 6], n_ids),
        "yaw": np.tile([-45.0, 0.0, 45.0, 0.0], n_ids).astype(np.float32),
    }
    return FaceSet(
        rng.uniform(-1, 1, (len(identity), 16, 16, 1)).astype(np.float32), labels, name="fake"
    )


def test_spec_parsing():
    assert pipeline.parse_spec("kdef:/data/KDEF") == ("kdef", "/data/KDEF")
    assert pipeline.parse_spec("/cache/faces.npz") == ("npz", "/cache/faces.npz")
    kind, options = pipeline.parse_spec(
        "synthetic:n_identities=3,yaws=-60..60,intensities=0.5/1,lights=random"
    )
    assert kind == "synthetic" and options["identities"] == (0, 1, 2)
    assert options["yaws"] == (-60, -45, -30, -15, 0, 15, 30, 45, 60) and options[
        "intensities"
    ] == (0.5, 1)
    assert pipeline.parse_spec("synthetic:yaws=0..90:45")[1]["yaws"] == (0, 45, 90)
    with pytest.raises(ValueError, match="known: .*kdef"):
        pipeline.parse_spec("imagenet:/x")
    with pytest.raises(ValueError, match="Unknown synthetic option"):
        pipeline.parse_spec("synthetic:colour=red")


def test_missing_path_is_named():
    with pytest.raises(FileNotFoundError, match="/no/such/KDEF"):
        data.load_faceset("kdef:/no/such/KDEF")


def test_folder_spec_to_batched_dataset(tmp_path, monkeypatch):
    import cv2

    monkeypatch.setenv("FER_ZOO_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "faces"
    for name, value in (("happy", 50), ("sad", 200)):
        for i in range(3):
            path = root / "train" / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), np.full((20, 20), value, np.uint8))
    dataset = data.load(f"folder:{root}", batch_size=4, image_size=16, shuffle=False)
    batches = list(dataset)
    assert [b[0].shape[0] for b in batches] == [4, 2]
    images, labels = batches[0]
    assert images.shape[1:] == (16, 16, 1) and images.dtype.name == "float32"
    assert labels["expression"].numpy().tolist() == [EXPRESSIONS.index("happy")] * 3 + [
        EXPRESSIONS.index("sad")
    ]
    train = data.load(f"folder:{root}", batch_size=8, split="train", image_size=16)
    assert sum(int(b[0].shape[0]) for b in train) == 6
    # The default cache made the later loads cache hits; cache_dir=False bypasses it.
    monkeypatch.setenv("FER_ZOO_CACHE", str(tmp_path / "fresh"))
    assert data.load_faceset(f"folder:{root}/train", image_size=16).report["cached"] is False
    assert data.load_faceset(f"folder:{root}/train", image_size=16).report["cached"] is True
    assert any((tmp_path / "fresh" / "data").glob("faces-*.npz"))
    assert not data.load_faceset(f"folder:{root}/train", image_size=16, cache_dir=False).report[
        "cached"
    ]
    with pytest.raises(ValueError, match="no 'test' images"):
        data.load(f"folder:{root}", split="test", image_size=16)


def test_npz_spec_and_subject_splits(tmp_path):
    faces = _fake_faceset()
    faces.save(tmp_path / "fake.npz")
    loaded = data.load_faceset(str(tmp_path / "fake.npz"), image_size=8, channels=3)
    assert loaded.images.shape == (24, 8, 8, 3)
    parts = {s: pipeline.split_indices(faces, s, seed=1) for s in ("train", "validation", "test")}
    ids = {s: set(faces.labels["identity"][i]) for s, i in parts.items()}
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"]
    assert sum(len(i) for i in parts.values()) == 24
    train, test = (
        pipeline.split_indices(faces, "train", protocol="kdef", fold=1),
        pipeline.split_indices(faces, "test", protocol="kdef", fold=1),
    )
    assert not set(faces.labels["identity"][train]) & set(faces.labels["identity"][test])


def test_to_dataset_labels_augment_and_shuffle():
    faces = _fake_faceset()
    dataset = data.to_dataset(
        faces, batch_size=24, shuffle=True, seed=3, augment="flip", label_keys=["expression", "yaw"]
    )
    images, labels = next(iter(dataset))
    assert set(labels) == {"expression", "yaw"} and labels["yaw"].dtype.name == "float32"
    assert sorted(labels["expression"].numpy().tolist()) == sorted(
        faces.labels["expression"].tolist()
    )
    with pytest.raises(KeyError, match="session"):
        data.to_dataset(faces, label_keys=["session"])


def test_synthetic_spec_and_convenience():
    faces = data.load_faceset(
        "synthetic:n_identities=2,yaws=0..45:45,expressions=happy/sad", image_size=48
    )
    assert len(faces) == 2 * 2 * 2 and faces.images.shape[1:] == (48, 48, 1)
    assert set(faces.labels["yaw"].tolist()) == {0.0, 45.0}
    dataset = data.synthetic(
        batch_size=4, image_size=48, identities=range(2), expressions=(3,), yaws=(0, 30)
    )
    images, labels = next(iter(dataset))
    assert images.shape == (4, 48, 48, 1) and set(labels["expression"].numpy().tolist()) == {3}
