import numpy as np
import pytest

from fer_zoo.data.adapters import LayoutError, affectnet, rafdb, sfew
from fer_zoo.data.faceset import EXPRESSIONS


def test_sfew(tmp_path, write_image):
    write_image(tmp_path / "Train" / "Angry" / "a.png", size=24)
    write_image(tmp_path / "Val" / "Happy" / "b.png", size=24)
    faces = sfew.load_sfew(tmp_path, image_size=16, cropped=True)
    assert faces.name == "sfew"
    assert faces.labels["split"].tolist() == [0, 1]
    assert faces.labels["expression"].tolist() == [
        EXPRESSIONS.index("angry"),
        EXPRESSIONS.index("happy"),
    ]
    with pytest.raises(LayoutError, match="Train"):
        sfew.load_sfew(tmp_path / "Train")


def test_rafdb(tmp_path, write_image):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 1\ntest_0001.jpg 7\n"
    )
    write_image(tmp_path / "Image" / "aligned" / "train_00001_aligned.jpg", size=24)
    write_image(tmp_path / "Image" / "aligned" / "test_0001_aligned.jpg", size=24)
    faces = rafdb.load_rafdb(tmp_path, image_size=16)
    assert faces.labels["expression"].tolist() == [
        EXPRESSIONS.index("surprise"),
        EXPRESSIONS.index("neutral"),
    ]
    assert faces.labels["split"].tolist() == [0, 2]
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 1\ntrain_00002.jpg 3\n"
    )
    with pytest.raises(ValueError, match="not found.*train_00002_aligned.jpg"):
        rafdb.load_rafdb(tmp_path)
    with pytest.raises(LayoutError, match="list_patition_label.txt"):
        rafdb.load_rafdb(tmp_path / "Image")


def test_affectnet(tmp_path, write_image):
    write_image(tmp_path / "Manually_Annotated_Images" / "1" / "a.jpg", size=40)
    write_image(tmp_path / "Manually_Annotated_Images" / "1" / "b.jpg", size=40)
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    (tmp_path / "training.csv").write_text(
        header + "1/a.jpg,5,5,30,30,,1,0.5,0.2\n1/b.jpg,0,0,40,40,,7,0,0\n"
    )
    (tmp_path / "validation.csv").write_text(header + "1/b.jpg,0,0,40,40,,10,0,0\n")
    faces = affectnet.load_affectnet(tmp_path, image_size=16)
    assert len(faces) == 1 and faces.labels["expression"][0] == EXPRESSIONS.index("happy")
    np.testing.assert_allclose(faces.labels["valence"], [0.5])
    kept = affectnet.load_affectnet(tmp_path, image_size=16, contempt="keep")
    assert kept.labels["expression"].tolist() == [EXPRESSIONS.index("happy"), 7]
    with pytest.raises(LayoutError, match="training.csv"):
        affectnet.load_affectnet(tmp_path / "Manually_Annotated_Images")
