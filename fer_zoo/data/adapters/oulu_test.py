import pytest

from fer_zoo.data.adapters import LayoutError, oulu
from fer_zoo.data.faceset import EXPRESSIONS


def test_oulu_sequences(tmp_path, write_image):
    for light in ("Strong", "Dark"):
        for frame in range(5):
            write_image(
                tmp_path / "Cropped" / "VL" / light / "P001" / "Happiness" / f"{frame:03d}.jpeg",
                size=24,
            )
    faces = oulu.load_oulu_casia(tmp_path / "Cropped", image_size=16, last_n=2)
    assert faces.report["methods"] == {"cropped": 3}
    assert (
        faces.labels["expression"].tolist()
        == [EXPRESSIONS.index("neutral")] + [EXPRESSIONS.index("happy")] * 2
    )
    assert faces.labels["frame"].tolist() == [0, 3, 4]
    both = oulu.load_oulu_casia(
        tmp_path, image_size=16, lightings=("Strong", "Dark"), last_n=1, first_as_neutral=False
    )
    assert sorted(both.labels["illumination"].tolist()) == [0, 2]


def test_oulu_empty(tmp_path, write_image):
    write_image(tmp_path / "VL" / "Strong" / "P001" / "Anger" / "000.jpeg")
    with pytest.raises(LayoutError, match="NI"):
        oulu.load_oulu_casia(tmp_path, modalities=("NI",))
