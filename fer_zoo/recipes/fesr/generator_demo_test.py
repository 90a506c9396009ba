"""The demo block of the shipped FESR generator (shipped weights, SynthFER faces it never saw)."""

import pathlib

from fer_zoo.recipes.fesr.generator_demo import demo


def test_shipped_generator_follows_the_intensity_and_keeps_the_person(tmp_path):
    result = demo(str(tmp_path), smoke=True)
    ssim = result["ssim"]
    # Unseen identities: closer to the exact face than the target's mean face (the right
    # expression and intensity on an average person), so G keeps the person it was given.
    assert ssim["generated"] > 0.7
    assert ssim["generated"] > ssim["mean_face"] + 0.08
    assert result["output_spread"] > 0.1
    # At full intensity the photo classifier reads G's expressions nearly as often as the exact
    # renders' (a G that ignored the code would stay neutral).
    read = result["expression_read_by_fer_general"]
    assert read["generated"] >= read["exact"] - 0.2
    assert pathlib.Path(result["figures"][0]).stat().st_size > 10_000
    assert len(result["headline"]["lines"]) <= 3
