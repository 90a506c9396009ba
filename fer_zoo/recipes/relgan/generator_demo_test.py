"""The demo block of the shipped REL-GAN reenactment generator (SynthFER faces it never saw)."""

import pathlib

from fer_zoo.recipes.relgan.generator_demo import demo


def test_shipped_reenactment_keeps_the_target_person_and_takes_the_source_expression(tmp_path):
    result = demo(str(tmp_path), smoke=True)
    ssim = result["ssim"]
    # Far closer to the exact face than the source (wrong person) or the mean face, so G keeps
    # the target's identity; the photo classifier reads the source's expression on G's faces.
    assert ssim["generated"] > 0.75
    assert ssim["generated"] > ssim["copy_source"] + 0.15
    assert ssim["generated"] > ssim["mean_face"] + 0.1
    assert result["output_spread"] > 0.1
    read = result["expression_read_by_fer_general"]
    assert read["generated"] >= read["exact"] - 0.2
    assert pathlib.Path(result["figures"][0]).stat().st_size > 10_000
