"""Mean +- std over repeated runs (training seeds or cross-validation folds), the form every
recipe's comparison reports (docs: "mean +- std over N seeds"), and the confusion matrix every
classification report carries."""

import numpy as np


def confusion_matrix(truth, predicted, num_classes):
    """`(num_classes, num_classes)` int64 counts, rows = truth, columns = prediction.

    Example:
    ```python
    confusion_matrix([0, 1, 1], [0, 0, 1], 2)   # [[1, 0], [1, 1]]
    ```
    """
    truth, predicted = np.asarray(truth).astype(int), np.asarray(predicted).astype(int)
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def over_runs(rows, keys=None):
    """Mean, sample std (ddof 1) and the values of each numeric key over `rows`.

    Args:
        rows: a sequence of dicts, one per run (seed or fold), e.g.
            `[{"all": 0.61, "pose 0": 0.70}, {"all": 0.58, "pose 0": 0.66}]`.
        keys: the keys to aggregate (default: every key of the first row whose value is a number).

    Returns:
        `{key: {"mean": float, "std": float or None, "values": [...]}}`; `std` is None for a
        single run (a spread of one value is unknown, not zero).

    Example:
    ```python
    over_runs([{"all": 0.6}, {"all": 0.5}])   # {"all": {"mean": 0.55, "std": 0.0707..., "values": [0.6, 0.5]}}
    ```
    """
    rows = list(rows)
    if not rows:
        raise ValueError("over_runs needs at least one run")
    if keys is None:
        keys = [k for k, v in rows[0].items() if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]
    out = {}
    for key in keys:
        missing = [i for i, row in enumerate(rows) if key not in row]
        if missing:
            raise KeyError(f"runs {missing} have no {key!r}")
        values = [float(row[key]) for row in rows]
        out[key] = {"mean": float(np.mean(values)),
                    "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                    "values": values}
    return out
