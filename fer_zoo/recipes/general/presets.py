"""The general-purpose preset `fer-general` (`fer_zoo.DEFAULT_MODEL`): what `fer_zoo.Recognizer()`
uses when no model is named. Trained on FER2013 Training + KDEF (48 of its 60 identities, all
five poses) by `fer_zoo.recipes.general.train`; accuracy is measured on FER2013 PublicTest and on the
12 KDEF identities it never saw (card: fer_zoo/zoo/cards/fer-general.md).
"""

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.recipes.general.models import build_general_classifier
from fer_zoo.recipes.general.train import HELDOUT_IDENTITIES, INPUT_SIZE, PREPROCESSING

ARCHITECTURES = {"general_classifier": build_general_classifier}

LICENCE = (
    "Weights derived from FER2013 (ICML 2013 Representation Learning challenge, research use under "
    "its terms) and KDEF (Karolinska Directed Emotional Faces: non-commercial research use only, "
    "under the KDEF terms of use). Not for commercial use."
)

# Measured on the shipped weights with test-time flip averaging, as shipped (summary.json of the
# training run: the 3,589 PublicTest crops and the 806 held-out KDEF faces the preprocessor found,
# all five poses; benchmarks.versus_fer for the whole-pipeline rows); commands in the card.
ACCURACY = {
    "fer2013_publictest": 0.6676,
    "fer2013_publictest_per_class": {
        "angry": 0.659,
        "disgust": 0.536,
        "fear": 0.435,
        "happy": 0.844,
        "neutral": 0.679,
        "sad": 0.484,
        "surprise": 0.865
    },
    "fer2013_publictest_without_flip_averaging": 0.6537,
    "kdef_heldout_identities": 0.8449,
    "kdef_heldout_per_pose": {
        "-90": 0.714,
        "-45": 0.879,
        "0": 0.899,
        "45": 0.917,
        "90": 0.796
    },
    "kdef_heldout_per_class": {
        "angry": 0.701,
        "disgust": 0.956,
        "fear": 0.617,
        "happy": 0.983,
        "neutral": 0.853,
        "sad": 0.833,
        "surprise": 0.974
    }
}

PRESETS = {
    "fer-general": {
        "architecture": "general_classifier",
        # The shipped model averages each face with its mirror image (same weights as training).
        "config": {"input_size": INPUT_SIZE, "channels": 1, "flip_average": True},
        "weights": "fer_general_fer2013_kdef48_5poses.weights.h5",
        "sha256": "7519fe94a305f7f5d7b332ba21f11e08b7920b48bd895b38c8d6e484198043a5",
        "metadata": {
            "task": "classification",
            "description": (
                "General-purpose 7-class expression classifier (compact VGG-style CNN with batch "
                "norm, 1.24 M parameters) trained on FER2013 Training plus KDEF; the default model "
                "of fer_zoo.Recognizer(). Not one of the four papers' networks."
            ),
            "input_size": [INPUT_SIZE, INPUT_SIZE],
            "channels": 1,
            "class_names": list(EXPRESSIONS),
            "input_range": [-1, 1],
            # Train/serve parity: KDEF training faces were cropped by exactly this preprocessor,
            # whose framing matches FER2013's crops.
            "preprocessing": dict(PREPROCESSING),
            "training_data": (
                "FER2013 Training (28,709 crops) + KDEF, all five poses (FL/HL/S/HR/FR) of 48 identities "
                "(3,261 faces cropped by the Recognizer's preprocessor, full profiles by its profile "
                "stage, repeated 2x), 48x48 grey"
            ),
            "heldout_kdef_identities": list(HELDOUT_IDENTITIES),
            "training_command": (
                "python -m fer_zoo.recipes.general.train prepare --kdef KDEF --fer2013 FER2013 --out DATA; "
                "python -m fer_zoo.recipes.general.train fit --data DATA --out RUN --epochs 44 --precision mixed"
            ),
            "accuracy": ACCURACY,
            # Recognizer(runtime="auto") classifies photos through a TFLite copy with int8
            # (dynamic-range) weights: ~4x faster per call, and through the whole pipeline the
            # same accuracy on the held-out KDEF photos (90.0 % HL/S/HR, 67.0 % FL/FR) and
            # FER2013 PublicTest 66.5 % vs 66.7 % in float (labels agree on 99.7 %; card,
            # docs/performance.md). runtime="tflite" or "tf" keeps float32.
            "tflite_weights": "int8",
            "paper": "none: the zoo's general-purpose classifier (see the card)",
            "licence": LICENCE,
            "card": "fer-general.md",
        },
    },
}
