import cv2
import numpy as np

from fer_zoo.data import preview
from fer_zoo.data.faceset import FaceSet


def test_sample_sheet_rows_by_yaw(tmp_path):
    yaws = np.array([-45.0, 0.0, 45.0] * 4, np.float32)
    identity = np.repeat(np.arange(4), 3)
    # Each image's brightness encodes its identity, so the columns can be checked.
    images = np.broadcast_to((identity * 0.4 - 0.8)[:, None, None, None], (12, 8, 8, 1)).astype(
        np.float32
    )
    faces = FaceSet(
        images.copy(), {"yaw": yaws, "identity": identity, "expression": np.zeros(12, np.int64)}
    )
    path = preview.sample_sheet(faces, tmp_path / "sheet.png", columns=4, cell=16)
    sheet = cv2.imread(str(path))
    assert sheet.shape == (3 * 16, 90 + 4 * 16, 3)
    cells = sheet[8::16, 90 + 8 :: 16, 0]  # centre pixel of each cell
    assert (cells == cells[0]).all()  # same identity down every column (all three yaws present)
    assert len(set(cells[0].tolist())) == 4


def test_preview_of_a_spec(tmp_path):
    faces = FaceSet(
        np.zeros((5, 8, 8, 3), np.float32), {"expression": np.zeros(5, np.int64)}, name="tiny"
    )
    faces.save(tmp_path / "tiny.npz")
    out = preview.preview(
        str(tmp_path / "tiny.npz"), tmp_path / "out" / "p.png", image_size=8, columns=3
    )
    assert cv2.imread(str(out)).shape[1] == 3 * 64


def test_synthetic_preview_delegates_to_contact_sheet(tmp_path):
    out = preview.preview(
        "synthetic",
        tmp_path / "synth.png",
        image_size=48,
        identities=(0,),
        yaws=(0,),
        lights=("even",),
    )
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[1] > 7 * 48  # one column per expression
