"""The general-purpose preset `fer-general` (`fer_zoo.DEFAULT_MODEL`): what `fer_zoo.Recognizer()`
uses when no model is named. Trained on FER2013 Training + KDEF (48 of its 60 identities, poses
HL/S/HR) by `fer_zoo.recipes.general.train`; accuracy is measured on FER2013 PublicTest and on the
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

# Measured on the shipped weights (summary.json of the training run, and benchmarks.versus_fer
# for the whole-pipeline rows); commands in the card.
ACCURACY = {
    "fer2013_publictest": 0.6506,
    "fer2013_publictest_per_class": {
        "angry": 0.619,
        "disgust": 0.5,
        "fear": 0.427,
        "happy": 0.836,
        "neutral": 0.654,
        "sad": 0.485,
        "surprise": 0.829
    },
    "fer2013_publictest_with_flip_averaging": 0.6578,
    "kdef_heldout_identities": 0.8775,
    "kdef_heldout_per_pose": {
        "-45": 0.836,
        "0": 0.893,
        "45": 0.903
    },
    "kdef_heldout_per_class": {
        "angry": 0.761,
        "disgust": 0.958,
        "fear": 0.62,
        "happy": 1.0,
        "neutral": 0.914,
        "sad": 0.903,
        "surprise": 0.986
    }
}

PRESETS = {
    "fer-general": {
        "architecture": "general_classifier",
        # The shipped model averages each face with its mirror image (same weights as training).
        "config": {"input_size": INPUT_SIZE, "channels": 1, "flip_average": True},
        "weights": "fer_general_fer2013_kdef48.weights.h5",
        "sha256": "8dd3a5a08502433c858ef1bb675a36fc00e4460ff6a20b881f15786ca53ab657",
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
                "FER2013 Training (28,709 crops) + KDEF poses HL/S/HR of 48 identities (2,009 faces "
                "cropped by the Recognizer's preprocessor, repeated 3x), 48x48 grey"
            ),
            "heldout_kdef_identities": list(HELDOUT_IDENTITIES),
            "training_command": (
                "python -m fer_zoo.recipes.general.train prepare --kdef KDEF --fer2013 FER2013 --out DATA; "
                "python -m fer_zoo.recipes.general.train fit --data DATA --out RUN --epochs 38 --precision mixed"
            ),
            "accuracy": ACCURACY,
            "paper": "none: the zoo's general-purpose classifier (see the card)",
            "licence": LICENCE,
            "card": "fer-general.md",
        },
    },
}
