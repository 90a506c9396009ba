import numpy as np
import pytest

from fer_zoo.evaluation.aggregate import over_runs


def test_mean_and_sample_std_over_runs():
    rows = [{"all": 0.6, "pose 0": 0.7, "name": "a"}, {"all": 0.5, "pose 0": 0.9, "name": "b"}]
    out = over_runs(rows)
    assert sorted(out) == ["all", "pose 0"]  # strings are not aggregated
    assert out["all"]["mean"] == pytest.approx(0.55)
    assert out["all"]["std"] == pytest.approx(np.std([0.6, 0.5], ddof=1))
    assert out["pose 0"]["values"] == [0.7, 0.9]


def test_one_run_has_no_spread_and_missing_keys_are_named():
    assert over_runs([{"all": 0.4}])["all"]["std"] is None
    with pytest.raises(KeyError, match="pose 0"):
        over_runs([{"all": 0.4, "pose 0": 0.1}, {"all": 0.5}])
    with pytest.raises(ValueError, match="at least one"):
        over_runs([])


def test_confusion_matrix_rows_are_truth():
    from fer_zoo.evaluation.aggregate import confusion_matrix

    matrix = confusion_matrix([0, 1, 1, 2], [0, 0, 1, 1], 3)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [1, 1, 0], [0, 1, 0]])
    assert matrix.dtype == np.int64 and matrix.sum() == 4
