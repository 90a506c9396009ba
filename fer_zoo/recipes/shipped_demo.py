"""Shared pieces of the `fer-zoo demo` blocks that run shipped generator presets on unseen
SynthFER faces (`gasca.normalizer_demo`, `jpem.generator_demo`, `fesr.generator_demo`,
`relgan.generator_demo`)."""

import functools

import numpy as np

from fer_zoo.data.preprocessing import from_model_range


def to_uint8(images):
    """Model-range images in [-1, 1] as uint8 in [0, 255]."""
    return from_model_range(images)


@functools.cache
def _reader():
    from fer_zoo.zoo.recognizer import Recognizer

    return Recognizer(detector="cropped")


def read_rate(images, wanted):
    """Share of `images` (face crops in [-1, 1]) on which the shipped general classifier
    (`fer-general`, trained on photos, never on SynthFER) reads the expression named in `wanted`."""
    results = _reader().predict(list(to_uint8(images)))
    return float(np.mean([r.faces[0].label == want for r, want in zip(results, wanted)]))


def start(out_dir, preset):
    """`(start time, out_dir as a created Path, Synthesizer(preset))`: every block's set-up."""
    import pathlib
    import time

    from fer_zoo.zoo.synthesizer import Synthesizer

    started = time.time()
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return started, out_dir, Synthesizer(preset)


def ssim_scores(truths, candidates):
    """`{name: per-face SSIM to truths}` for `candidates`, a sequence of `(name, images)`."""
    from fer_zoo.recipes.gasca.synthfer_gate import ssim

    return {name: ssim(images, truths) for name, images in candidates}


def mean_scores(scores, where=None):
    """`{name: mean of its scores}`, over the faces selected by the boolean mask `where` if given."""
    return {name: float((values if where is None else values[where]).mean()) for name, values in scores.items()}


def output_spread(outputs):
    """Per-pixel std of the outputs across inputs, averaged: ~0 when a generator gives every input one face."""
    return float(np.asarray(outputs).std(axis=0).mean())


def result(preset, started, figure, done, lines, **metrics):
    """A block's returned dict: the model, its metrics, seconds, figure and `headline`."""
    import time

    return {
        "model": preset,
        **metrics,
        "seconds": time.time() - started,
        "figures": [str(figure)],
        "headline": {"done": done, "lines": lines, "figures": [str(figure)]},
    }
