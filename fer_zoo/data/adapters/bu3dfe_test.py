import numpy as np
import pytest

from fer_zoo.data.adapters import LayoutError, bu3dfe
from fer_zoo.data.faceset import EXPRESSIONS


def test_bu3dfe_levels(tmp_path, write_image):
    for name in ("F0001_AN01WH_F2D", "F0001_AN04WH_F2D", "F0001_NE00WH_F2D", "M0002_HA03AE_F2D"):
        write_image(tmp_path / name[:5] / f"{name}.bmp", size=24)
    write_image(tmp_path / "F0001" / "F0001_AN01WH_F3D.bmp")  # not a 2D texture: ignored
    faces = bu3dfe.load_bu3dfe(tmp_path, image_size=16, cropped=True)
    order = np.argsort(faces.paths)
    assert faces.labels["intensity"][order].tolist() == [0.25, 1.0, 0.0, 0.75]
    assert faces.labels["expression"][order].tolist() == [
        EXPRESSIONS.index(e) for e in ("angry", "angry", "neutral", "happy")
    ]
    assert faces.labels["gender"][order].tolist() == [0, 0, 0, 1]
    strong = bu3dfe.load_bu3dfe(tmp_path, image_size=16, cropped=True, levels=(3, 4), neutral=False)
    assert sorted(strong.labels["intensity"].tolist()) == [0.75, 1.0]


def test_bu3dfe_empty(tmp_path, write_image):
    write_image(tmp_path / "x.bmp")
    with pytest.raises(LayoutError, match="F0001_AN01WH_F2D"):
        bu3dfe.load_bu3dfe(tmp_path)
