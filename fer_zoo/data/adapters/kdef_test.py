import numpy as np
import pytest

from fer_zoo.data.adapters import LayoutError, kdef
from fer_zoo.data.faceset import EXPRESSIONS


def _tree(root, write_image, poses=("FL", "HL", "S", "HR", "FR")):
    for session in "AB":
        for person in ("F01", "M02"):
            for code in ("HA", "AN"):
                for pose in poses:
                    write_image(
                        root / f"{session}{person}" / f"{session}{person}{code}{pose}.JPG",
                        size=40,
                        value=120,
                    )
    return root


def test_parse_kdef_name():
    assert kdef.parse_kdef_name("BM12SUHR.JPG") == {
        "session": "B",
        "gender": "M",
        "identity_code": "M12",
        "expression": "surprise",
        "pose": "HR",
    }
    assert kdef.parse_kdef_name("AF01AFS.jpg")["pose"] == "S"
    assert kdef.parse_kdef_name("notes.JPG") is None


def test_load_kdef_labels_and_crops(tmp_path, write_image):
    root = _tree(tmp_path / "KDEF", write_image)
    write_image(root / "README.png")  # not a KDEF name: ignored
    faces = kdef.load_kdef(root, image_size=16, channels=1)
    assert faces.images.shape == (40, 16, 16, 1)
    assert faces.images.min() >= -1 and faces.images.max() <= 1
    assert faces.report["identity_codes"] == ["F01", "M02"]
    assert set(faces.labels["identity"].tolist()) == {0, 1}
    assert set(faces.labels["session"].tolist()) == {0, 1}
    assert sorted(set(faces.labels["yaw"].tolist())) == [-90, -45, 0, 45, 90]
    assert set(faces.labels["expression"].tolist()) == {
        EXPRESSIONS.index("happy"),
        EXPRESSIONS.index("angry"),
    }
    # Plain grey photos: no silhouette, so every crop is the flagged centre fallback.
    assert faces.report["methods"] == {"centre": 40}


def test_kdef_sizes_share_one_pass_and_cache(tmp_path, write_image):
    root = _tree(tmp_path / "KDEF", write_image, poses=("S",))
    out = kdef.load_kdef(root, sizes=[(16, 1), (24, 3)], cache_dir=tmp_path / "cache")
    assert out[(16, 1)].images.shape[1:] == (16, 16, 1) and out[(24, 3)].images.shape[1:] == (
        24,
        24,
        3,
    )
    again = kdef.load_kdef(root, sizes=[(16, 1), (24, 3)], cache_dir=tmp_path / "cache")
    assert again[(16, 1)].report["cached"] and not out[(16, 1)].report["cached"]
    assert again[(24, 3)].report["methods"] == out[(24, 3)].report["methods"] == {"centre": 8}
    np.testing.assert_array_equal(again[(24, 3)].images, out[(24, 3)].images)


def test_kdef_detect_crops_with_the_deployed_preprocessor(tmp_path, write_image):
    from fer_zoo.data.preprocessing import FacePreprocessor

    root = _tree(tmp_path / "KDEF", write_image, poses=("HL", "S", "HR"))
    deployed = FacePreprocessor(size=12, channels=1, margin=0.25, detectors=("frontal", "centre"))
    faces = kdef.load_kdef(root, crop="detect", preprocessor=deployed, poses=("HL", "S", "HR"))
    # The preprocessor decides size and method (plain grey photos: the centre fallback).
    assert faces.images.shape == (24, 12, 12, 1) and faces.report["methods"] == {"centre": 24}
    assert sorted(set(faces.labels["yaw"].tolist())) == [-45, 0, 45]
    with pytest.raises(ValueError, match="crop='detect'"):
        kdef.load_kdef(root, preprocessor=deployed)


def test_kdef_pose_filter_and_labels_csv(tmp_path, write_image):
    root = _tree(tmp_path / "KDEF", write_image)
    faces = kdef.load_kdef(root, image_size=8, poses=["S"])
    assert len(faces) == 8 and (faces.labels["yaw"] == 0).all()
    (root / "labels.csv").write_text("file,session\nAF01HAS.JPG,A\nAF01XXS.JPG,A\n")
    with pytest.raises(LayoutError, match="AF01XXS"):
        kdef.load_kdef(root, image_size=8)


def test_kdef_errors(tmp_path, write_image):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        kdef.load_kdef(tmp_path / "nowhere")
    write_image(tmp_path / "empty" / "photo.jpg")
    with pytest.raises(LayoutError, match=r"\[A\|B\]\[F\|M\]"):
        kdef.load_kdef(tmp_path / "empty")
    root = _tree(tmp_path / "KDEF", write_image, poses=("S",))
    (root / "AF01" / "AF01SAS.JPG").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="AF01SAS.JPG"):
        kdef.load_kdef(root, image_size=8)
    faces = kdef.load_kdef(root, image_size=8, skip_bad=True)
    assert len(faces) == 8 and "AF01SAS.JPG" in faces.report["bad"][0][0]


def test_studio_crops_share_scale_and_height_across_poses(tmp_path, monkeypatch):
    import cv2

    from fer_zoo.data import preprocessing

    # Plain beige studio photos of one sitting: a dark "head" whose top is at row 30 in every
    # pose, shifted sideways for the turned poses.
    root = tmp_path / "KDEF"
    root.mkdir()
    shift = {"FL": -20, "HL": -10, "S": 0, "HR": 10, "FR": 20}
    for pose, dx in shift.items():
        photo = np.full((200, 160, 3), (170, 190, 200), np.uint8)  # BGR beige
        cv2.ellipse(photo, (80 + dx, 90), (45, 60), 0, 0, 360, (60, 80, 120), -1)
        cv2.imwrite(str(root / f"AF01HA{pose}.JPG"), photo)
    # Stand-in for the Haar detector on the frontal photo: a box and a slightly tilted eye pair.
    eyes = ((65.0, 80.0), (95.0, 83.0))
    real_first = preprocessing.FacePreprocessor.first

    def fake_first(self, image):
        result = real_first(self, image)
        result.box, result.method, result.eyes, result.aligned = (
            (40, 50, 80, 80),
            "frontal",
            eyes,
            True,
        )
        result.transform = preprocessing._eye_transform(eyes, self.eye_y, self.eye_distance)
        result.face = np.zeros((self.size, self.size, 1), np.float32)
        return result

    monkeypatch.setattr(preprocessing.FacePreprocessor, "first", fake_first)
    paths, records, _ = kdef.scan_kdef(root)
    transforms, methods, bad = kdef.studio_transforms(paths, records)
    poses = [r["pose"] for r in records]
    assert not bad and dict(zip(poses, methods)) == {
        "FL": "studio",
        "HL": "studio",
        "S": "eyes",
        "HR": "studio",
        "FR": "studio",
    }
    geometry = {}
    for pose, transform in zip(poses, transforms):
        inverse = np.linalg.inv(np.vstack([transform, [0, 0, 1]]))
        side = np.hypot(*inverse[:2, 0])
        centre = inverse @ np.array([0.5, 0.5, 1.0])
        geometry[pose] = (side, centre[0], centre[1])
    sides = [g[0] for g in geometry.values()]
    np.testing.assert_allclose(sides, sides[0], rtol=0.01)  # one scale (boxes are whole pixels)
    heights = [g[2] for g in geometry.values()]
    np.testing.assert_allclose(heights, heights[0], atol=3.0)  # same distance below the head top
    # Frontal: eyes level at the configured height; turned heads move with their leading edge.
    mapped = np.array([[*e, 1.0] for e in eyes]) @ transforms[poses.index("S")].T
    assert mapped[0, 1] == pytest.approx(mapped[1, 1]) and mapped[0, 1] == pytest.approx(0.38)
    assert geometry["FL"][1] < geometry["HL"][1] < geometry["HR"][1] < geometry["FR"][1]
