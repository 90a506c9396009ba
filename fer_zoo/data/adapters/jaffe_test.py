import pytest

from fer_zoo.data.adapters import LayoutError, jaffe
from fer_zoo.data.faceset import EXPRESSIONS


def test_jaffe_names(tmp_path, write_image):
    write_image(tmp_path / "KA.AN1.39.tiff", size=32, channels=1)
    write_image(tmp_path / "YM.SU2.59.tiff", size=32, channels=1)
    faces = jaffe.load_jaffe(tmp_path, image_size=16)
    assert faces.labels["expression"].tolist() == [
        EXPRESSIONS.index("angry"),
        EXPRESSIONS.index("surprise"),
    ]
    assert faces.report["identity_codes"] == ["KA", "YM"]
    # Noise photos have no face: the detector's flagged fallbacks still give a crop each.
    assert sum(faces.report["methods"].values()) == 2


def test_jaffe_empty(tmp_path, write_image):
    write_image(tmp_path / "face.tiff")
    with pytest.raises(LayoutError, match="KA.AN1.39"):
        jaffe.load_jaffe(tmp_path)
