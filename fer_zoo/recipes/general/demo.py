"""`fer-zoo demo` block for the shipped default classifier: no training, seconds.

It reads expressions with `fer_zoo.Recognizer()` (the `fer-general` preset, trained on real
photos only) on faces it never saw: SynthFER renders of random identities, (1) composed into a
photo that goes through detection, alignment and classification, and (2) as a batch of aligned
crops whose exact expression the renderer gives, scored against chance.
"""

import pathlib
import time

import numpy as np

from fer_zoo.data.faceset import EXPRESSIONS


def compose_photo(seed=0, faces=((11, "happy", 0.0), (23, "surprise", 10.0), (35, "sad", -10.0), (47, "angry", 0.0))):
    """A 300x700 RGB "photo" of SynthFER faces (128 px) on a textured background, and their
    expressions left to right (no licensed photo may ship with the package)."""
    from fer_zoo.data.synthfer import EVEN_LIGHT, SynthFER

    rng = np.random.default_rng(seed)
    renderer = SynthFER(image_size=128, channels=3, seed=seed)
    h, w = 300, 700
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack(
        [110 + 40 * np.sin(xx / 37.0), 120 + 30 * np.cos(yy / 23.0), 140 + 20 * np.sin((xx + yy) / 51.0)],
        axis=-1,
    )
    photo = np.clip(background + rng.normal(0, 6, background.shape), 0, 255).astype(np.uint8)
    truth = []
    for slot, (identity, expression, yaw) in enumerate(faces):
        face = renderer.render(identity=identity, expression=expression, intensity=1.0, yaw=yaw, light=EVEN_LIGHT)
        x0, y0 = 30 + slot * 165, 60 + (slot % 2) * 40
        photo[y0 : y0 + 128, x0 : x0 + 128] = ((face + 1.0) * 127.5).astype(np.uint8)
        truth.append(expression)
    return photo, truth


def demo(out_dir="runs/recognizer_demo", smoke=False, model=None, identities=20, seed=7):
    """Run the default classifier on unseen SynthFER faces; returns metrics and the headline.

    Args:
        out_dir: folder for `annotated_photo.png`.
        smoke: fewer faces (CI); same code.
        model: preset name (default `fer_zoo.DEFAULT_MODEL`).
        identities: SynthFER identities rendered with every expression (frontal, even light).
        seed: SynthFER seed (identities of this seed are not in any training set).
    """
    import cv2

    from fer_zoo.data.synthfer import EVEN_LIGHT, SynthFER
    from fer_zoo.zoo.recognizer import Recognizer
    from fer_zoo.zoo.registry import DEFAULT_MODEL

    started = time.time()
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = model or DEFAULT_MODEL
    recognizer = Recognizer(name)
    photo, truth = compose_photo()
    result = recognizer.predict(photo)
    found = sorted(result.faces, key=lambda f: f.box[0])
    figure = out_dir / "annotated_photo.png"
    cv2.imwrite(str(figure), cv2.cvtColor(np.asarray(recognizer.annotate(photo, result)), cv2.COLOR_RGB2BGR))
    # Each found face belongs to the rendered face whose slot its box centre falls in.
    slots = [int((f.box[0] + f.box[2] / 2 - 30) // 165) for f in found]
    photo_correct = sum(0 <= s < len(truth) and f.label == truth[s] for f, s in zip(found, slots))

    renderer = SynthFER(image_size=96, channels=3, seed=seed)
    people = range(4 if smoke else identities)
    crops, labels = [], []
    for person in people:
        for index, expression in enumerate(EXPRESSIONS):
            face = renderer.render(identity=person, expression=expression, intensity=1.0, yaw=0.0, light=EVEN_LIGHT)
            crops.append(((face + 1.0) * 127.5).astype(np.uint8))
            labels.append(index)
    # 96 px renders: detected and aligned like any photo (a crop where no face is found is read
    # whole, as the Recognizer does for every image up to 96 px).
    predicted = [EXPRESSIONS.index(r.faces[0].label) if r.faces else -1 for r in recognizer.predict(np.stack(crops))]
    correct = np.asarray(predicted) == np.asarray(labels)
    per_class = {c: float(correct[np.asarray(labels) == i].mean()) for i, c in enumerate(EXPRESSIONS)}
    accuracy = float(correct.mean())
    lines = [
        f"photo of {len(truth)} rendered faces: {len(found)} found, {photo_correct} of them read right",
        f"{len(crops)} unseen SynthFER faces (never trained on): {100 * accuracy:.1f} % right "
        f"(chance {100 / len(EXPRESSIONS):.1f} %)",
    ]
    return {
        "model": name,
        "photo": {"truth": truth, "predicted": [f.label for f in found], "boxes": [list(f.box) for f in found]},
        "synthfer_accuracy": accuracy,
        "synthfer_per_class": per_class,
        "faces": len(crops),
        "seconds": time.time() - started,
        "figures": [str(figure)],
        "headline": {"done": f"loaded the shipped {name!r} and read unseen faces (no training)",
                     "lines": lines, "figures": [str(figure)]},
    }
