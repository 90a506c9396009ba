"""`fer-zoo demo` block for the shipped GASCA2 normaliser: no training, seconds.

`fer_zoo.Synthesizer("gasca2-normalizer-synthfer")` turns SynthFER faces of identities it never
saw (another seed) at yaw 0 / +-30 / +-45 under even and harsh light into frontal, evenly lit
faces, scored by SSIM against the renderer's exact frontal even-light face beside two baselines:
copying the input, and the mean frontal face of the input's expression (mean over training
identities; it is told the expression, so it is a strong baseline). The full gate with the
expression judge is `python -m fer_zoo.recipes.gasca.synthfer_gate` (docs/gasca.md).
"""

PRESET = "gasca2-normalizer-synthfer"


def demo(out_dir="runs/normalizer_demo", smoke=False, identities=6, mean_identities=30, seed=1):
    """Normalise unseen SynthFER faces with the shipped preset; returns metrics and the headline.

    Args:
        out_dir: folder for `normalized_faces.png`.
        smoke: fewer faces (CI); same code.
        identities: held-out identities (of SynthFER seed `seed`), each with every expression,
            yaw 0 / +-30 / +-45 and even / harsh light.
        mean_identities: training identities (seed 0) averaged for the mean-face baseline.
        seed: SynthFER seed of the held-out identities (the preset trained on seed 0).
    """
    from fer_zoo.recipes import shipped_demo
    from fer_zoo.recipes.gasca.synthfer_gate import example_figure, heldout_set, mean_faces

    started, out_dir, synthesizer = shipped_demo.start(out_dir, PRESET)
    identities = 2 if smoke else int(identities)
    inputs, targets, labels = heldout_set(seed=seed, identities=identities)
    outputs = synthesizer.generate(inputs, cropped=True)
    means = mean_faces(identities=range(4 if smoke else int(mean_identities)))[labels["expression"]]
    scores = shipped_demo.ssim_scores(targets, (("normalized", outputs), ("copy_input", inputs), ("mean_face", means)))
    by_light = {light: float(scores["normalized"][labels["light"] == light].mean()) for light in ("even", "harsh")}
    figure = example_figure(out_dir / "normalized_faces.png", inputs, outputs, targets, labels,
                            identities=tuple(range(min(4, identities))))
    mean = shipped_demo.mean_scores(scores)
    lines = [
        f"{len(inputs)} unseen faces at yaw 0/+-30/+-45, even and harsh light -> frontal, even light: "
        f"SSIM {mean['normalized']:.3f} (copying the input {mean['copy_input']:.3f}, "
        f"mean face of the expression {mean['mean_face']:.3f})",
        f"even light {by_light['even']:.3f}, harsh light {by_light['harsh']:.3f}; figure columns: "
        "input, normalised, exact target",
    ]
    return shipped_demo.result(
        PRESET, started, figure, f"loaded the shipped {PRESET!r} and normalised unseen faces (no training)", lines,
        ssim=mean, ssim_by_light=by_light, output_spread=shipped_demo.output_spread(outputs), faces=int(len(inputs)))
