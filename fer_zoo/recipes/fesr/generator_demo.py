"""`fer-zoo demo` block for the shipped FESR generator: no training, seconds.

`fer_zoo.Synthesizer("fesr-generator-synthfer")` takes the neutral frontal face of SynthFER
identities it never saw (another seed) and sets each non-neutral expression at intensity
0 -> 1. Each output is scored against the renderer's exact face of that identity at that
expression and intensity (SSIM) beside two baselines: copying the input, and the mean face of
the target expression and intensity over training identities. The shipped general classifier
(`fer-general`, trained on photos, never on SynthFER) then reads the expression of the outputs
at full intensity and of the exact renders. The full gate with the SynthFER expression judge and
the intensity rank correlation is `python -m fer_zoo.recipes.fesr.synthfer_gate` (docs/fesr.md).
"""

import numpy as np

PRESET = "fesr-generator-synthfer"


def demo(out_dir="runs/fesr_generator_demo", smoke=False, identities=4, mean_identities=30, seed=1):
    """Set the expression and its intensity on unseen SynthFER faces with the shipped preset.

    Args:
        out_dir: folder for `intensity_faces.png`.
        smoke: fewer faces (CI); same code.
        identities: held-out identities (of SynthFER seed `seed`), each asked for the 6
            non-neutral expressions at intensity 0, 0.2, ..., 1 from its neutral face.
        mean_identities: training identities (seed 0) averaged for the mean-face baseline.
        seed: SynthFER seed of the held-out identities (the preset trained on seed 0).

    Returns:
        dict of metrics, the figure path and the demo's `headline`.
    """
    from fer_zoo.data.faceset import EXPRESSIONS
    from fer_zoo.recipes import shipped_demo
    from fer_zoo.recipes.fesr.synthfer_gate import (
        example_figure,
        heldout_set,
        mean_faces,
        requested_expressions,
    )

    started, out_dir, synthesizer = shipped_demo.start(out_dir, PRESET)
    identities = 2 if smoke else int(identities)
    inputs, targets, labels = heldout_set(seed=seed, identities=identities)
    requested = [EXPRESSIONS[e] for e in labels["expression"]]
    outputs = synthesizer.generate(inputs, expression=requested, intensity=labels["intensity"], cropped=True)
    levels = np.unique(labels["intensity"])
    means = mean_faces(identities=range(4 if smoke else int(mean_identities)), intensities=tuple(levels))
    expression_row = np.searchsorted(np.asarray(requested_expressions()), labels["expression"])
    means = means[expression_row, np.searchsorted(levels, labels["intensity"])]
    scores = shipped_demo.ssim_scores(targets, (("generated", outputs), ("copy_input", inputs), ("mean_face", means)))
    mean = shipped_demo.mean_scores(scores)
    full = labels["intensity"] == levels.max()
    full_ssim = shipped_demo.mean_scores(scores, full)
    # Expression read by the shipped photo classifier (never trained on SynthFER) at full
    # intensity, on G's faces and on the exact renders: the same reader for both.
    wanted = [r for r, f in zip(requested, full) if f]
    read = {name: shipped_demo.read_rate(images[full], wanted)
            for name, images in (("generated", outputs), ("exact", targets))}
    figure = example_figure(out_dir / "intensity_faces.png", inputs, outputs, targets, labels,
                            identities=tuple(range(min(2, identities))))
    lines = [
        f"{len(inputs)} unseen faces asked for 6 expressions at intensity 0..1 from a neutral face: SSIM "
        f"to the exact face {mean['generated']:.3f} (copying the input {mean['copy_input']:.3f}, mean face "
        f"of the target {mean['mean_face']:.3f}); at intensity 1: {full_ssim['generated']:.3f} "
        f"(copy {full_ssim['copy_input']:.3f}, mean face {full_ssim['mean_face']:.3f})",
        f"fer-general reads the requested expression at intensity 1 on {read['generated']:.0%} of them "
        f"(on the exact faces {read['exact']:.0%}); figure rows: input, 6 intensities, 6 exact",
    ]
    return shipped_demo.result(
        PRESET, started, figure,
        f"loaded the shipped {PRESET!r} and set expressions at intensity 0..1 on unseen faces (no training)", lines,
        ssim=mean, ssim_at_full_intensity=full_ssim, expression_read_by_fer_general=read,
        output_spread=shipped_demo.output_spread(outputs), faces=int(len(inputs)))

