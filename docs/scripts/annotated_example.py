"""Write docs/figures/annotated_example.png: SynthFER faces in a "photo", found and classified.

Usage: python docs/scripts/annotated_example.py [MODEL] [OUT_PNG]   (MODEL: default fer_zoo.DEFAULT_MODEL)

No licensed photo may be committed, so the example photo is composed of SynthFER renders
(colour, 128 px, varied yaw) pasted onto a textured background (`fer-zoo demo` uses the same
photo); the Recognizer then detects, aligns and classifies every face exactly as it would in a
real photograph. The shipped classifiers never saw a SynthFER face.
"""

import sys

import cv2
import numpy as np

from fer_zoo.recipes.general.demo import compose_photo
from fer_zoo.zoo import Recognizer


def main(model=None, out="docs/figures/annotated_example.png"):
    photo, truth = compose_photo()
    recognizer = Recognizer(model or None)
    result = recognizer.predict(photo)
    annotated = recognizer.annotate(photo, result)
    cv2.imwrite(out, cv2.cvtColor(np.asarray(annotated), cv2.COLOR_RGB2BGR))
    print(f"rendered expressions (left to right): {truth}")
    for face in sorted(result.faces, key=lambda f: f.box[0]):
        print(f"box={face.box} predicted={face.label} ({face.score:.2f})")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
