"""Summaries of the reproduction benchmarks read finished runs the way the docs report them."""

import json

import pytest

from benchmarks import gasca2_pretraining


def _summary(path, kdef_per_pose, publictest, seconds=100.0):
    path.mkdir(parents=True)
    per_group = {str(yaw): value for yaw, value in kdef_per_pose.items()}
    summary = {"kdef_heldout_plain": {"accuracy": sum(per_group.values()) / len(per_group), "per_group": per_group},
               "fer2013_publictest_plain": {"accuracy": publictest}, "train_seconds": seconds}
    (path / "summary.json").write_text(json.dumps(summary))


def test_gasca2_pretraining_summary_is_mean_and_sample_std_over_seeds(tmp_path):
    poses = (-90, -45, 0, 45, 90)
    _summary(tmp_path / "pretrained_s0", dict(zip(poses, (0.2, 0.6, 0.7, 0.8, 0.2))), 0.48)
    _summary(tmp_path / "pretrained_s1", dict(zip(poses, (0.2, 0.5, 0.6, 0.7, 0.2))), 0.46)
    _summary(tmp_path / "scratch_s0", dict(zip(poses, (0.2, 0.4, 0.5, 0.6, 0.2))), 0.47)

    result = gasca2_pretraining.summarise(tmp_path, seeds=(0, 1))

    assert result["missing"] == ["scratch_s1"]
    pretrained = result["arms"]["pretrained"]
    # HL/S/HR is the unweighted mean of the three poses: 0.7 and 0.6 for the two seeds.
    assert pretrained["kdef_hl_s_hr"]["values"] == pytest.approx([0.7, 0.6])
    assert pretrained["kdef_hl_s_hr"]["mean"] == pytest.approx(0.65)
    assert pretrained["publictest"]["std"] == pytest.approx(0.0141421, abs=1e-6)  # sample std (ddof 1)
    assert result["arms"]["scratch"]["publictest"]["std"] is None  # one run: no spread claimed
    table = gasca2_pretraining.markdown_table(result)
    assert "| pretrained (n=2) |" in table and "65.0 +- 7.1" in table
