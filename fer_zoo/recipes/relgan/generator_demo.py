"""`fer-zoo demo` block for the shipped REL-GAN reenactment generator: no training, seconds.

`fer_zoo.Synthesizer("relgan-generator-synthfer")` puts the expression of a source face on a
target face, both SynthFER identities it never saw (another seed). Each output is scored
against the renderer's exact face of the target identity with the source's expression (SSIM)
beside three baselines: copying the target (right person, wrong expression), copying the source
(right expression, wrong person) and the mean face of the source's expression over training
identities. The shipped general classifier (`fer-general`, never trained on SynthFER) reads the
expression of the outputs and of the exact faces. The full gate with the SynthFER expression
judge and the linear probes on f(e) is `python -m fer_zoo.recipes.relgan.synthfer_gate`
(docs/relgan.md).
"""

PRESET = "relgan-generator-synthfer"


def demo(out_dir="runs/relgan_generator_demo", smoke=False, identities=6, mean_identities=30, seed=1):
    """Reenact unseen SynthFER faces with the shipped preset.

    Args:
        out_dir: folder for `reenactment_faces.png`.
        smoke: fewer faces (CI); same code.
        identities: held-out identities (of SynthFER seed `seed`): each one's neutral face is a
            target for sources of every expression from two other held-out identities.
        mean_identities: training identities (seed 0) averaged for the mean-face baseline.
        seed: SynthFER seed of the held-out identities (the preset trained on seed 0).

    Returns:
        dict of metrics, the figure path and the demo's `headline`.
    """
    from fer_zoo.data.faceset import EXPRESSIONS
    from fer_zoo.recipes import shipped_demo
    from fer_zoo.recipes.relgan.synthfer_gate import (
        example_figure,
        heldout_grid,
        mean_faces,
        triplets,
    )

    started, out_dir, synthesizer = shipped_demo.start(out_dir, PRESET)
    identities = 3 if smoke else int(identities)
    size = int(synthesizer.metadata["input_size"][0])
    targets, sources, truths, labels = triplets(heldout_grid(seed, identities, size, 1))
    outputs = synthesizer.generate(targets, expression_from=sources, cropped=True)
    means = mean_faces(0, range(4 if smoke else int(mean_identities)), size, 1)[labels["expression"]]
    scores = shipped_demo.ssim_scores(truths, (("generated", outputs), ("copy_target", targets),
                                               ("copy_source", sources), ("mean_face", means)))
    mean = shipped_demo.mean_scores(scores)
    changed_ssim = shipped_demo.mean_scores(scores, labels["expression"] != EXPRESSIONS.index("neutral"))
    wanted = [EXPRESSIONS[e] for e in labels["expression"]]
    read = {name: shipped_demo.read_rate(images, wanted) for name, images in (("generated", outputs), ("exact", truths))}
    figure = example_figure(out_dir / "reenactment_faces.png", targets, sources, outputs, truths, labels,
                            rows=min(3, identities))
    lines = [
        f"{len(outputs)} reenactments of unseen faces (neutral target + a source's expression): SSIM to the "
        f"exact face {mean['generated']:.3f} (copying the target {mean['copy_target']:.3f}, copying the "
        f"source {mean['copy_source']:.3f}, mean face {mean['mean_face']:.3f}); where the expression "
        f"changes: {changed_ssim['generated']:.3f} (copy target {changed_ssim['copy_target']:.3f})",
        f"fer-general reads the source's expression on {read['generated']:.0%} of them (on the exact "
        f"faces {read['exact']:.0%}); figure rows: target, 7 reenactments, 7 exact",
    ]
    return shipped_demo.result(
        PRESET, started, figure, f"loaded the shipped {PRESET!r} and reenacted unseen faces (no training)", lines,
        ssim=mean, ssim_where_expression_changes=changed_ssim, expression_read_by_fer_general=read,
        output_spread=shipped_demo.output_spread(outputs), faces=int(len(outputs)))

