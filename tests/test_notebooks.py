"""Executes every notebook in notebooks/ in its smoke setting (FER_ZOO_NOTEBOOK_SMOKE=1).

A cell error fails the test with the cell's traceback. Each notebook gets its own output folder
(FER_ZOO_NOTEBOOK_OUT) under pytest's tmp_path, so nothing is written into the repository.
"""

import os
import pathlib
import time

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the test extra (nbmake)")
nbclient = pytest.importorskip("nbclient", reason="nbclient comes with the test extra (nbmake)")

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
# Smoke budget per notebook (kernel start + TensorFlow import included), generous for a busy CI box.
TIMEOUT_S = 240


def test_notebooks_exist():
    names = {p.stem for p in NOTEBOOKS}
    assert {"00_quickstart", "01_gasca", "02_jpem", "03_fesr", "04_relgan", "05_bring_your_own_data"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nb = nbformat.read(str(path), as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), "no `parameters` cell"
    # The kernel inherits the environment: smoke setting, outputs into tmp_path, quiet TF.
    monkeypatch.setenv("FER_ZOO_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("FER_ZOO_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    started = time.time()
    client.execute()  # raises CellExecutionError (with the traceback) when a cell fails
    elapsed = time.time() - started
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    assert elapsed < TIMEOUT_S, f"{path.name} took {elapsed:.0f} s"
    print(f"{path.name}: {elapsed:.1f} s ({os.environ.get('FER_ZOO_NOTEBOOK_SMOKE')})")
