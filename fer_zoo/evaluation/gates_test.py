"""Tests of the shared gate helpers (tiny, no judge training)."""

import numpy as np

from fer_zoo.evaluation.gates import by_cell, candidate_metrics, gate_parser, metrics_table


class ConstantJudge:
    """Stand-in judge: labels every image with one expression."""

    def __init__(self, label):
        self.label = label

    def predict(self, images):
        return np.full(len(images), self.label)


def test_candidate_metrics_and_table():
    rng = np.random.default_rng(0)
    targets = rng.uniform(-1, 1, (4, 16, 16, 1)).astype(np.float32)
    cells = ["a", "a", "b", "b"]
    exact = candidate_metrics(targets, targets, [3, 3, 3, 0], ConstantJudge(3), cells)
    assert np.isclose(exact["ssim"], 1.0, atol=1e-5) and exact["l1"] == 0.0
    assert exact["judge_by_cell"] == {"a": 1.0, "b": 0.5}
    flat = candidate_metrics(np.zeros_like(targets), targets, [3, 3, 3, 0], ConstantJudge(0), cells)
    assert flat["output_std_across_inputs"] == 0.0 and flat["judge_accuracy"] == 0.25
    lines = metrics_table({"G": exact, "flat": flat}, ("G", "flat"), "cell")
    assert lines[0] == "| cell | SSIM G | SSIM flat | judge G | judge flat |"
    assert len(lines) == 2 + 2 + 1 and lines[-1].startswith("| **all** |")
    assert by_cell(np.arange(4.0), ["x", "y", "x", "y"]) == {"x": 1.0, "y": 2.0}


def test_parser_has_the_common_options():
    args = gate_parser("d", "--model", "m").parse_args(["--model", "w", "--judge", "j", "--out", "o"])
    assert (args.model, args.heldout_seed, args.identities) == ("w", 1, 20)
