import numpy as np
from PIL import Image

from fer_zoo.recipes.gasca import figures
from fer_zoo.recipes.gasca.train import resolve_config


def test_figure3_draws_one_block_of_three_rows_per_expression_from_the_generators_outputs(tmp_path):
    cfg = resolve_config("small")
    size = cfg["model"]["image_size"][0]
    seen = []

    def mirror(faces, training=False):  # a stand-in normaliser whose output is visibly its own
        seen.append(np.asarray(faces))
        return np.asarray(faces)[:, :, ::-1]

    path = figures.figure3(mirror, tmp_path / "fig3.png", cfg, expression=["happy", "sad"])
    canvas = np.asarray(Image.open(path).convert("L"), np.float32)
    scale, pad = 3, 2
    assert canvas.shape[0] == 2 * 3 * (size * scale + pad) + pad
    assert len(seen) == 2 and seen[0].shape == (len(figures.FIG3_YAWS), size, size, 1)
    assert np.abs(seen[0] - seen[1]).mean() > 0.01  # the two expressions are different renders

    def row(r):
        y = pad + r * (size * scale + pad)
        return canvas[y:y + size * scale, 70 + pad:]

    assert np.abs(row(1) - row(0)).mean() > 1.0  # the output row is the generator's, not the input
    assert np.abs(row(2) - row(5)).mean() > 1.0  # each block has its own expression's target


def test_figure3_command_draws_the_shipped_normaliser(tmp_path, capsys):
    figures.main(["--out", str(tmp_path / "f.png"), "--expressions", "happy", "--light", "even"])
    assert capsys.readouterr().out.strip().endswith("f.png")
    canvas = np.asarray(Image.open(tmp_path / "f.png").convert("L"))
    assert canvas.shape[0] == 3 * (64 * 3 + 2) + 2
