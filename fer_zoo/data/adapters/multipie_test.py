import numpy as np
import pytest

from fer_zoo.data.adapters import LayoutError, multipie
from fer_zoo.data.faceset import EXPRESSIONS


def _image(root, write_image, subject, session, recording, camera, illumination):
    name = (
        f"{subject}_{session:02d}_{recording:02d}_{camera.replace('_', '')}_{illumination:02d}.png"
    )
    path = (
        root / f"session{session:02d}" / "multiview" / subject / f"{recording:02d}" / camera / name
    )
    return write_image(path, size=32)


def test_multipie_labels(tmp_path, write_image):
    _image(tmp_path, write_image, "001", 1, 2, "05_1", 7)  # smile, frontal
    _image(tmp_path, write_image, "001", 1, 1, "11_0", 0)  # neutral, -90
    _image(tmp_path, write_image, "002", 2, 3, "19_0", 3)  # squint: dropped by default
    _image(tmp_path, write_image, "002", 3, 3, "08_1", 19)  # disgust, raised camera
    faces = multipie.load_multipie(tmp_path, image_size=16, cropped=True)
    assert len(faces) == 3
    order = np.argsort(faces.labels["illumination"])
    assert faces.labels["illumination"][order].tolist() == [0, 7, 19]
    assert faces.labels["yaw"][order][:2].tolist() == [-90.0, 0.0] and np.isnan(
        faces.labels["yaw"][order][2]
    )
    assert faces.labels["expression"][order].tolist() == [
        EXPRESSIONS.index(e) for e in ("neutral", "happy", "disgust")
    ]
    assert faces.labels["session"][order].tolist() == [0, 0, 2]
    everything = multipie.load_multipie(tmp_path, image_size=16, cropped=True, keep_unmapped=True)
    assert len(everything) == 4 and (everything.labels["expression"] == -1).sum() == 1
    frontal = multipie.load_multipie(
        tmp_path, image_size=16, cropped=True, cameras=["05_1"], illuminations=[7]
    )
    assert len(frontal) == 1 and frontal.labels["yaw"][0] == 0


def test_multipie_errors(tmp_path, write_image):
    write_image(
        tmp_path / "session01" / "multiview" / "001" / "01" / "99_9" / "001_01_01_999_00.png"
    )
    with pytest.raises(ValueError, match="99_9"):
        multipie.load_multipie(tmp_path)
    write_image(tmp_path / "other" / "session01" / "multiview" / "face.png")
    with pytest.raises(LayoutError, match="session0S/multiview"):
        multipie.load_multipie(tmp_path / "other")
