import numpy as np
import pytest

from fer_zoo.data.adapters import LayoutError, generic
from fer_zoo.data.faceset import EXPRESSIONS


def test_class_folders_with_and_without_splits(tmp_path, write_image):
    write_image(tmp_path / "flat" / "Happiness" / "a.png")
    write_image(tmp_path / "flat" / "contempt" / "b.png")
    faces = generic.load_folder(tmp_path / "flat", image_size=16)
    assert faces.labels["expression"].tolist() == [EXPRESSIONS.index("happy")]
    assert faces.labels["split"].tolist() == [-1]
    kept = generic.load_folder(tmp_path / "flat", image_size=16, contempt="keep")
    assert sorted(kept.labels["expression"].tolist()) == [3, 7]
    write_image(tmp_path / "split" / "train" / "sad" / "a.png")
    write_image(tmp_path / "split" / "test" / "fear" / "b.png")
    faces = generic.load_folder(tmp_path / "split", image_size=16, channels=3)
    assert faces.images.shape == (2, 16, 16, 3) and faces.labels["split"].tolist() == [2, 0]


def test_folder_errors(tmp_path, write_image):
    write_image(tmp_path / "photos" / "holiday" / "a.png")
    with pytest.raises(LayoutError, match="holiday"):
        generic.load_folder(tmp_path / "photos")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutError, match="<class>"):
        generic.load_folder(tmp_path / "empty")


def test_csv(tmp_path, write_image):
    write_image(tmp_path / "img" / "a.png")
    write_image(tmp_path / "img" / "b.png")
    (tmp_path / "labels.csv").write_text(
        "path,expression,identity,yaw\nimg/a.png,happy,bob,30\nimg/b.png,6,alice,\n"
    )
    faces = generic.load_csv(tmp_path / "labels.csv", image_size=16)
    assert faces.labels["expression"].tolist() == [EXPRESSIONS.index("happy"), 6]
    assert faces.labels["identity"].tolist() == [1, 0]
    assert faces.labels["yaw"][0] == 30 and np.isnan(faces.labels["yaw"][1])
    (tmp_path / "bad.csv").write_text("file,emotion\na.png,happy\n")
    with pytest.raises(LayoutError, match="expression"):
        generic.load_csv(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("path,expression\nimg/a.png,9\n")
    with pytest.raises(ValueError, match="line 2"):
        generic.load_csv(tmp_path / "bad2.csv")
