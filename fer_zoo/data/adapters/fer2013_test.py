import numpy as np
import pytest

from fer_zoo.data.adapters import LayoutError, fer2013
from fer_zoo.data.faceset import EXPRESSIONS


def test_csv_release(tmp_path):
    pixels = " ".join(["0"] * 2303 + ["255"])
    rows = [
        f"{code},{pixels},{usage}"
        for code, usage in ((0, "Training"), (6, "PublicTest"), (3, "PrivateTest"))
    ]
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    faces = fer2013.load_fer2013(tmp_path, image_size=48)
    assert faces.images.shape == (3, 48, 48, 1)
    assert faces.labels["expression"].tolist() == [
        EXPRESSIONS.index(n) for n in ("angry", "neutral", "happy")
    ]
    assert faces.labels["split"].tolist() == [0, 1, 2]
    assert faces.images[0, 0, 0, 0] == -1.0 and faces.images[0, -1, -1, 0] == 1.0
    train = fer2013.load_fer2013(tmp_path / "fer2013.csv", image_size=24, splits=["Training"])
    assert len(train) == 1 and train.images.shape[1:] == (24, 24, 1)


def test_csv_bad_pixels_names_line(tmp_path):
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    with pytest.raises(ValueError, match="line 2"):
        fer2013.load_fer2013(tmp_path)


def test_class_folder_release(tmp_path, write_image):
    for split in ("train", "publictest"):
        for name in ("happy", "surprise"):
            write_image(tmp_path / split / name / f"{split}_{name}.jpg", size=48, channels=1)
    faces = fer2013.load_fer2013(tmp_path, image_size=32, channels=3)
    assert faces.images.shape == (4, 32, 32, 3)
    assert sorted(faces.labels["split"].tolist()) == [0, 0, 1, 1]
    assert set(faces.labels["expression"].tolist()) == {
        EXPRESSIONS.index("happy"),
        EXPRESSIONS.index("surprise"),
    }
    assert faces.report["methods"] == {"cropped": 4}
    public = fer2013.load_fer2013(tmp_path, splits="PublicTest")
    assert (public.labels["split"] == 1).all()


def test_layout_errors(tmp_path, write_image):
    write_image(tmp_path / "images" / "happy" / "a.png")
    with pytest.raises(LayoutError, match="not split names"):
        fer2013.load_fer2013(tmp_path)
    write_image(tmp_path / "train" / "smiling" / "a.png")
    with pytest.raises(ValueError, match="smiling"):
        fer2013.load_fer2013(tmp_path)


def test_corrupt_image_named_or_skipped(tmp_path, write_image):
    write_image(tmp_path / "train" / "sad" / "ok.png")
    (tmp_path / "train" / "sad" / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="broken.png"):
        fer2013.load_fer2013(tmp_path)
    faces = fer2013.load_fer2013(tmp_path, skip_bad=True)
    assert len(faces) == 1 and np.all(faces.labels["expression"] == EXPRESSIONS.index("sad"))
    assert faces.report["bad"][0][0].endswith("broken.png")
