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
# fine-tuning run: the 3,589 PublicTest crops and the 796 held-out KDEF faces the preprocessor found,
# all five poses; benchmarks.versus_fer for the whole-pipeline rows); commands in the card.
ACCURACY = {
    "fer2013_publictest": 0.667,
    "fer2013_publictest_per_class": {
        "angry": 0.6403,
        "disgust": 0.5357,
        "fear": 0.4456,
        "happy": 0.8358,
        "neutral": 0.6639,
        "sad": 0.5145,
        "surprise": 0.8602
    },
    "fer2013_publictest_without_flip_averaging": 0.6565,
    "kdef_heldout_identities": 0.8543,
    "kdef_heldout_per_pose": {
        "-90": 0.7746,
        "-45": 0.8795,
        "0": 0.9048,
        "45": 0.9107,
        "90": 0.7829
    },
    "kdef_heldout_per_class": {
        "angry": 0.7328,
        "disgust": 0.9646,
        "fear": 0.6195,
        "happy": 1.0,
        "neutral": 0.8362,
        "sad": 0.8509,
        "surprise": 0.9817
    }
}

PRESETS = {
    "fer-general": {
        "architecture": "general_classifier",
        # The shipped model averages each face with its mirror image (same weights as training).
        "config": {"input_size": INPUT_SIZE, "channels": 1, "flip_average": True},
        "weights": "fer_general_fer2013_kdef48_5poses_clutter.weights.h5",
        "sha256": "6c4d20024d5673252dcbcac5843342c79273fd86a484fba07854d5a006bcb792",
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
                "stage, repeated 2x), 48x48 grey; then fine-tuned 10 epochs with 1,706 more crops of 42 "
                "of those identities pasted on clutter and cropped by the Recognizer's detector"
            ),
            "heldout_kdef_identities": list(HELDOUT_IDENTITIES),
            "training_command": (
                "python -m fer_zoo.recipes.general.train prepare --kdef KDEF --fer2013 FER2013 --out DATA; "
                "python -m fer_zoo.recipes.general.train fit --data DATA --out RUN --epochs 44 --precision mixed "
                "(before DATA held kdef_clutter.npz); python -m fer_zoo.recipes.general.train prepare --kdef KDEF "
                "--fer2013 FER2013 --out DATA --clutter-copies 1; python -m fer_zoo.recipes.general.train fit "
                "--data DATA --out TUNED --epochs 10 --init RUN/final.weights.h5 --set learning_rate=0.0005"
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
