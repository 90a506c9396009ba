"""Write docs/figures/annotated_example.png: SynthFER faces in a "photo", found and classified.

Usage: python docs/scripts/annotated_example.py [MODEL] [OUT_PNG]

No licensed photo may be committed, so the example photo is composed of SynthFER renders
(colour, 128 px, varied yaw and light) pasted onto a textured background; the Recognizer then
detects, aligns and classifies every face exactly as it would in a real photograph.
"""

import sys

import cv2
import numpy as np

from fer_zoo.data.synthfer import EVEN_LIGHT, SynthFER
from fer_zoo.zoo import Recognizer


def compose_photo(seed=0):
    rng = np.random.default_rng(seed)
    renderer = SynthFER(image_size=128, channels=3, seed=seed)
    h, w = 300, 700
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack(
        [110 + 40 * np.sin(xx / 37.0), 120 + 30 * np.cos(yy / 23.0), 140 + 20 * np.sin((xx + yy) / 51.0)],
        axis=-1,
    )
    photo = np.clip(background + rng.normal(0, 6, background.shape), 0, 255).astype(np.uint8)
    faces = [(11, "happy", 0.0), (23, "surprise", 10.0), (35, "sad", -10.0), (47, "angry", 0.0)]
    truth = []
    for slot, (identity, expression, yaw) in enumerate(faces):
        face = renderer.render(identity=identity, expression=expression, intensity=1.0, yaw=yaw, light=EVEN_LIGHT)
        face = ((face + 1.0) * 127.5).astype(np.uint8)
        x0, y0 = 30 + slot * 165, 60 + (slot % 2) * 40
        photo[y0 : y0 + 128, x0 : x0 + 128] = face
        truth.append(expression)
    return photo, truth


def main(model="gasca2", out="docs/figures/annotated_example.png"):
    photo, truth = compose_photo()
    recognizer = Recognizer(model)
    result = recognizer.predict(photo)
    annotated = recognizer.annotate(photo, result)
    cv2.imwrite(out, cv2.cvtColor(np.asarray(annotated), cv2.COLOR_RGB2BGR))
    print(f"rendered expressions (left to right): {truth}")
    for face in sorted(result.faces, key=lambda f: f.box[0]):
        print(f"box={face.box} predicted={face.label} ({face.score:.2f})")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
