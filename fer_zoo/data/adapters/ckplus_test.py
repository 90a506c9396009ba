import pytest

from fer_zoo.data.adapters import LayoutError, ckplus
from fer_zoo.data.faceset import EXPRESSIONS


def _sequence(root, write_image, subject, sequence, frames, code):
    for frame in range(1, frames + 1):
        write_image(
            root
            / "cohn-kanade-images"
            / subject
            / sequence
            / f"{subject}_{sequence}_{frame:08d}.png",
            size=32,
        )
    if code is not None:
        label = (
            root / "Emotion" / subject / sequence / f"{subject}_{sequence}_{frames:08d}_emotion.txt"
        )
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(f"   {code:.7e}\n")


def test_original_layout(tmp_path, write_image):
    _sequence(tmp_path, write_image, "S005", "001", 6, 5)  # happy
    _sequence(tmp_path, write_image, "S010", "002", 5, 2)  # contempt
    _sequence(tmp_path, write_image, "S010", "003", 4, None)  # unlabelled: ignored
    faces = ckplus.load_ckplus(tmp_path, image_size=16, last_n=3)
    assert len(faces) == 4  # first frame (neutral) + 3 peak frames; contempt dropped
    assert (
        faces.labels["expression"].tolist()
        == [EXPRESSIONS.index("neutral")] + [EXPRESSIONS.index("happy")] * 3
    )
    assert faces.labels["frame"].tolist() == [1, 4, 5, 6]
    assert faces.labels["intensity"].tolist() == [0.0, 1.0, 1.0, 1.0]
    kept = ckplus.load_ckplus(
        tmp_path, image_size=16, last_n=1, first_as_neutral=False, contempt="keep"
    )
    assert kept.class_names[7] == "contempt" and sorted(kept.labels["expression"].tolist()) == [
        3,
        7,
    ]
    assert kept.report["identity_codes"] == ["S005", "S010"]


def test_class_folder_crops(tmp_path, write_image):
    write_image(tmp_path / "anger" / "S010_004_00000017.png", size=48, channels=1)
    write_image(tmp_path / "sadness" / "S011_001_00000012.png", size=48, channels=1)
    faces = ckplus.load_ckplus(tmp_path, image_size=48)
    assert faces.labels["expression"].tolist() == [
        EXPRESSIONS.index("angry"),
        EXPRESSIONS.index("sad"),
    ]
    assert faces.labels["identity"].tolist() == [0, 1]
    assert faces.report["methods"] == {"cropped": 2}


def test_layout_errors(tmp_path, write_image):
    (tmp_path / "Emotion").mkdir()
    with pytest.raises(LayoutError, match="cohn-kanade-images"):
        ckplus.load_ckplus(tmp_path)
    other = tmp_path / "other"
    write_image(other / "pictures" / "a.png")
    with pytest.raises(LayoutError, match="not an expression name"):
        ckplus.load_ckplus(other)
    bad = tmp_path / "bad"
    _sequence(bad, write_image, "S005", "001", 2, 5)
    (bad / "Emotion" / "S005" / "001" / "S005_001_00000002_emotion.txt").write_text("happy")
    with pytest.raises(ValueError, match="S005_001_00000002_emotion.txt"):
        ckplus.load_ckplus(bad)
