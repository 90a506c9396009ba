"""The demo block of the shipped JPEM generator (shipped weights, SynthFER faces it never saw)."""

import pathlib

from fer_zoo.recipes.jpem.generator_demo import demo


def test_shipped_generator_makes_the_asked_face_not_a_constant_or_the_mean(tmp_path):
    result = demo(str(tmp_path), smoke=True)
    ssim = result["ssim"]
    # Unseen identities at 7 expressions x 3 yaws: closer to the exact face than the input itself
    # and than the mean face of the target (which has the right expression and pose but not the
    # person), so G follows the codes and keeps the identity; a blur or a constant loses to both.
    assert ssim["generated"] > 0.75
    assert ssim["generated"] > ssim["copy_input"] + 0.15
    assert ssim["generated"] > ssim["mean_face"] + 0.05
    assert result["beats_mean_face"] > 0.9
    assert result["output_spread"] > 0.1
    # The photo classifier reads G's expressions about as well as the exact renders'.
    read = result["expression_read_by_fer_general"]
    assert read["generated"] >= read["exact"] - 0.15
    assert pathlib.Path(result["figures"][0]).stat().st_size > 10_000
    assert len(result["headline"]["lines"]) <= 3
