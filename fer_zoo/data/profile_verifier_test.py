"""The profile verifier: which weak profile-cascade windows it reads, and what the shipped one says."""

import shutil

import numpy as np
import pytest

from fer_zoo.data import preprocessing, profile_verifier
from fer_zoo.data.composite import clutter
from fer_zoo.data.preprocessing import FacePreprocessor, _group_windows, profile_window_crops
from fer_zoo.data.preprocessing_test import _profile_photo

# Benchmark-style clutter photos (seeds) on which the profile cascade fires one weak window that
# its own grouping drops.
WEAK_WINDOW_SEEDS = (17, 50, 55)


def test_grouping_keeps_single_windows_only_when_asked():
    raw = [((10, 10, 20, 20), 1.0), ((11, 10, 20, 20), 1.5), ((100, 100, 20, 20), 0.5)]
    everything = _group_windows(raw, 0)
    assert len(everything) == 2 and ((100, 100, 20, 20), 0.5) in everything
    pairs = _group_windows(raw, 1)  # groups of more than one window
    assert len(pairs) == 1 and pairs[0][1] == 1.5  # scored by its best window


def test_profile_windows_include_the_cascade_detection_and_the_weak_clusters():
    photo = _profile_photo(2, 90)
    pre = FacePreprocessor(size=48, verify_profiles=False)
    windows = pre.profile_windows(photo)
    (found,) = pre.process(photo)
    grouped = [box for box, _, is_grouped in windows if is_grouped]
    assert grouped and all(preprocessing._same_face(box, found.box) for box in grouped)
    weak = pre.profile_windows(clutter(np.random.default_rng(WEAK_WINDOW_SEEDS[0])))
    assert weak and not any(is_grouped for _, _, is_grouped in weak)


def test_window_crops_face_the_cascade_way():
    photo = _profile_photo(2, 90)
    box = (90, 90, 140, 140)
    plain, = profile_window_crops(photo, [box], mirrored=False)
    flipped, = profile_window_crops(photo, [box], mirrored=True)
    assert plain.shape == (preprocessing.PROFILE_WINDOW_PX, preprocessing.PROFILE_WINDOW_PX, 1)
    np.testing.assert_array_equal(flipped, plain[:, ::-1])
    assert profile_window_crops(photo, [], mirrored=True).shape[0] == 0


@pytest.mark.parametrize("verdict", [False, True])
def test_the_verifier_alone_decides_on_windows_the_cascade_dropped(monkeypatch, verdict):
    seen = []

    def fake_accepts(crops):
        seen.append(len(crops))
        return np.full(len(crops), verdict)

    monkeypatch.setattr(profile_verifier, "accepts", fake_accepts)
    plain, verified = FacePreprocessor(size=48, verify_profiles=False), FacePreprocessor(size=48)
    for seed in WEAK_WINDOW_SEEDS:
        photo = clutter(np.random.default_rng(seed))
        assert plain.process(photo) == []
        results = verified.process(photo)
        weak = [box for box, _, _ in plain.profile_windows(photo)]
        assert [r.box for r in results] == (weak if verdict else []) and all(r.method == "profile" for r in results)
    assert sum(seen) == len(WEAK_WINDOW_SEEDS)
    # The windows the cascade's grouping keeps are not re-judged.
    seen.clear()
    assert [r.box for r in verified.process(_profile_photo(2, 90))] == [r.box for r in plain.process(_profile_photo(2, 90))]


def test_verify_profiles_survives_the_config_round_trip():
    pre = FacePreprocessor(verify_profiles=False)
    assert FacePreprocessor.from_config(pre.get_config()).verify_profiles is False
    assert FacePreprocessor().verify_profiles is True  # the default since it was measured
    assert pre.config_hash() != FacePreprocessor().config_hash()


def test_damaged_verifier_weights_are_refused(tmp_path):
    damaged = tmp_path / profile_verifier.WEIGHTS.name
    shutil.copy(profile_verifier.WEIGHTS, damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(OSError, match="SHA-256.*profile verifier"):
        profile_verifier.load_verifier(str(damaged), str(profile_verifier.CARD))


def test_shipped_verifier_accepts_rendered_profiles_and_rejects_clutter_windows():
    # Neither is its training data: it learned from photographed KDEF people on another clutter
    # style (`training_clutter`). SynthFER renders full profiles; the benchmark's clutter style
    # fires weak profile windows in a few photos.
    pre = FacePreprocessor(size=48, verify_profiles=False)
    background = []
    for seed in range(120):
        photo = clutter(np.random.default_rng(seed))
        for box, mirrored, _ in pre.profile_windows(photo):
            background.append(profile_window_crops(photo, [box], mirrored))
    assert len(background) >= len(WEAK_WINDOW_SEEDS)
    assert not profile_verifier.accepts(np.concatenate(background)).any()
    faces = []
    for identity in (1, 2, 3):
        for yaw in (-90, 90):
            photo = _profile_photo(identity, yaw)
            faces += [profile_window_crops(photo, [box], mirrored) for box, mirrored, _ in pre.profile_windows(photo)]
    assert len(faces) >= 6 and profile_verifier.accepts(np.concatenate(faces)).all()


def test_windows_are_labelled_face_background_or_left_out_by_where_their_centre_lies():
    person, face = (100, 0, 200, 400), (150, 40, 80, 80)  # face box centre (190, 80)

    def window(cx, cy, side=40):
        return ((cx - side // 2, cy - side // 2, side, side), False, False)

    windows = [window(190, 80), window(200, 350), window(242, 80), window(500, 80), window(190, 80, 300)]
    labels = profile_verifier._label_windows(windows, [person], [face])
    # on the face; on the body far below it; just beside the face (ambiguous); off the person;
    # a huge window centred on the face still has its centre there (face).
    assert labels == [1, 0, -1, 0, 1]
    assert profile_verifier._label_windows(windows[:1], [person], [None]) == [-1]  # face box unknown


def test_beside_a_frontal_face_weak_windows_are_verified_but_never_on_that_face(monkeypatch):
    # With a frontal face found, the profile search runs in the strips beside it; the verifier
    # judges the weak windows there too, except any touching the frontal face (its cheek or ear).
    from fer_zoo.data.synthfer import SynthFER

    seen = []
    monkeypatch.setattr(profile_verifier, "accepts", lambda crops: (seen.append(len(crops)), np.ones(len(crops), bool))[1])
    frontal = SynthFER(image_size=160, channels=3, seed=0).render(0, "neutral", yaw=0.0)
    photo = clutter(np.random.default_rng(17))
    photo[100:260, 40:200] = ((np.asarray(frontal) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    verified = FacePreprocessor(size=48).process(photo)
    plain = FacePreprocessor(size=48, verify_profiles=False).process(photo)
    (face,) = [r for r in verified if r.method == "frontal"]
    assert [r.method for r in plain] == ["frontal"] and seen
    added = [r for r in verified if r.method == "profile"]
    assert added and all(preprocessing._iou(r.box, face.box) == 0 for r in added)
