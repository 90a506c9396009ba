"""The demo block of the shipped GASCA2 normaliser (shipped weights, SynthFER faces it never saw)."""

import pathlib

from fer_zoo.recipes.gasca.normalizer_demo import demo


def test_shipped_normalizer_beats_its_baselines_and_is_not_constant(tmp_path):
    result = demo(str(tmp_path), smoke=True)
    ssim = result["ssim"]
    # Frontal, even-light faces of unseen identities: far closer to the exact target than the
    # input itself or the expression's mean face (a constant or blurred output would lose to it).
    assert ssim["normalized"] > 0.7
    assert ssim["normalized"] > ssim["copy_input"] + 0.2
    assert ssim["normalized"] > ssim["mean_face"] + 0.05
    assert result["output_spread"] > 0.05
    assert pathlib.Path(result["figures"][0]).stat().st_size > 10_000
    assert len(result["headline"]["lines"]) <= 3
