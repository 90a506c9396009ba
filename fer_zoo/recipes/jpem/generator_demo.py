"""`fer-zoo demo` block for the shipped JPEM generator: no training, seconds.

`fer_zoo.Synthesizer("jpem-generator-synthfer")` takes the neutral frontal face of SynthFER
identities it never saw (another seed) and makes every expression at yaw -45 / 0 / +45. Each
output is scored against the renderer's exact face of that identity at that expression and yaw
(SSIM) beside two baselines: copying the input, and the mean face of the target expression and
yaw over training identities (told the target, so a strong baseline; only a generator that
keeps the input's identity beats it). The shipped general classifier (`fer-general`, trained on
photos, never on SynthFER) then reads the expression of the outputs and of the exact renders.
The full gate with the SynthFER expression judge is `python -m fer_zoo.recipes.jpem.synthfer_gate`
(docs/jpem.md).
"""

import numpy as np

PRESET = "jpem-generator-synthfer"


def demo(out_dir="runs/jpem_generator_demo", smoke=False, identities=6, mean_identities=30, seed=1):
    """Re-express and re-pose unseen SynthFER faces with the shipped preset.

    Args:
        out_dir: folder for `expression_pose_faces.png`.
        smoke: fewer faces (CI); same code.
        identities: held-out identities (of SynthFER seed `seed`), each asked for the 7
            expressions at yaw -45 / 0 / +45 from its neutral frontal render.
        mean_identities: training identities (seed 0) averaged for the mean-face baseline.
        seed: SynthFER seed of the held-out identities (the preset trained on seed 0).

    Returns:
        dict of metrics, the figure path and the demo's `headline`.
    """
    from fer_zoo.data.faceset import EXPRESSIONS
    from fer_zoo.recipes import shipped_demo
    from fer_zoo.recipes.jpem.synthfer_gate import example_figure, heldout_set, mean_faces

    started, out_dir, synthesizer = shipped_demo.start(out_dir, PRESET)
    identities = 2 if smoke else int(identities)
    yaws = tuple(float(y) for y in synthesizer.metadata["pose_yaws"])
    inputs, targets, labels = heldout_set(seed=seed, identities=identities, yaws=yaws)
    requested = [EXPRESSIONS[e] for e in labels["expression"]]
    outputs = synthesizer.generate(inputs, expression=requested, yaw=labels["yaw"], cropped=True)
    means = mean_faces(identities=range(4 if smoke else int(mean_identities)), yaws=yaws)
    yaw_index = np.searchsorted(np.asarray(yaws, np.float32), labels["yaw"])
    means = means[labels["expression"], yaw_index]
    scores = shipped_demo.ssim_scores(targets, (("generated", outputs), ("copy_input", inputs), ("mean_face", means)))
    mean = shipped_demo.mean_scores(scores)
    beats_mean_face = float((scores["generated"] > scores["mean_face"]).mean())
    # Expression read by the shipped photo classifier (never trained on SynthFER) on G's faces
    # and on the exact renders: the same reader for both, so the gap is G's.
    read = {name: shipped_demo.read_rate(images, requested)
            for name, images in (("generated", outputs), ("exact", targets))}
    figure = example_figure(out_dir / "expression_pose_faces.png", inputs, outputs, targets, labels,
                            identities=tuple(range(min(2, identities))))
    lines = [
        f"{len(inputs)} unseen faces asked for 7 expressions x yaw {'/'.join(f'{y:+.0f}' for y in yaws)} "
        f"from a neutral frontal face: SSIM to the exact face {mean['generated']:.3f} (copying the "
        f"input {mean['copy_input']:.3f}, mean face of the target {mean['mean_face']:.3f})",
        f"fer-general reads the requested expression on {read['generated']:.0%} of them "
        f"(on the exact faces {read['exact']:.0%}); figure rows: input, 7 generated, 7 exact",
    ]
    return shipped_demo.result(
        PRESET, started, figure, f"loaded the shipped {PRESET!r} and re-expressed / re-posed unseen faces (no training)",
        lines, ssim=mean, beats_mean_face=beats_mean_face, expression_read_by_fer_general=read,
        output_spread=shipped_demo.output_spread(outputs), faces=int(len(inputs)))

