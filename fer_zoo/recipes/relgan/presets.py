"""REL-GAN presets for `fer_zoo.load`.

`relgan` is the paper's FER model as one functional network: the frozen expression encoder G_es
(detached from the trained reenactment GAN) followed by the MLP on f(e). The builder gives the
same layer structure as the classifier `fer_zoo.recipes.relgan.train` saves
(`relgan_classifier.keras` / `.weights.h5`), so a run's weights load into it:
`fer_zoo.load("relgan", weights="runs/relgan/relgan_classifier.weights.h5")`.
"""

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.recipes.relgan import models

PAPER = (
    "REL-GAN: Reenactment-based Expression-Representation Learning GAN (encoder-decoder "
    "reenactment generator G = (G_es, G_et, G_de), multi-task discriminator D = [D_e, D_i], "
    "frozen G_es + MLP for FER)"
)
KDEF_LICENCE = (
    "Weights trained on KDEF (Karolinska Directed Emotional Faces): non-commercial research use "
    "only, under the KDEF terms of use; code Apache-2.0."
)


def build_relgan_classifier(
    input_size=32,
    channels=1,
    num_classes=models.NUM_EXPRESSIONS,
    encoder_filters=models.NETWORK_CONFIGS["small"]["encoder_filters"],
    expression_dim=30,
    mlp_units=models.NETWORK_CONFIGS["small"]["mlp_units"],
    dropout=0.3,
    norm="instance",
):
    """Frozen G_es + MLP on f(e); softmax over `num_classes` expressions."""
    return models.relgan_classifier(
        image_size=input_size,
        channels=channels,
        num_classes=num_classes,
        encoder_filters=tuple(encoder_filters),
        expression_dim=expression_dim,
        mlp_units=tuple(mlp_units),
        dropout=dropout,
        norm=norm,
    )


def build_relgan_cnn_baseline(
    input_size=32,
    channels=1,
    num_classes=models.NUM_EXPRESSIONS,
    encoder_filters=models.NETWORK_CONFIGS["small"]["encoder_filters"],
    expression_dim=30,
    norm="instance",
):
    """The paper's CNN baseline: G_es architecture + one FC layer (trained end to end)."""
    return models.cnn_baseline(
        image_size=input_size,
        channels=channels,
        num_classes=num_classes,
        encoder_filters=tuple(encoder_filters),
        expression_dim=expression_dim,
        norm=norm,
    )


ARCHITECTURES = {
    "relgan_classifier": build_relgan_classifier,
    "relgan_cnn_baseline": build_relgan_cnn_baseline,
}

# Fold 0 of the KDEF 5-fold run documented in docs/relgan.md (weights file, hash, accuracy):
# 16 GAN epochs with D warm-up (`d_warmup_steps=300`, the fix of D_e staying at chance).
KDEF_RUN = {
    "weights": "relgan_kdef32.weights.h5",
    "sha256": "c8468c1f8bb39ea9124cfc7c23cb3dfd4a4bdb15ced6a8fcaeef7117ca53e6f9",
    "config": {
        "input_size": 32,
        "channels": 1,
        "num_classes": 7,
        "encoder_filters": [8, 16, 32, 64, 64],
        "expression_dim": 30,
        "mlp_units": [64],
        "dropout": 0.3,
        "norm": "instance",
    },
    "accuracy": {
        "kdef_frontal_fold0_test": 0.4345,
        "cnn_baseline_same_fold": 0.5298,
        "chance": 0.1429,
        "test_images": 168,
        "kdef_frontal_5fold_mean": 0.3833,
        "kdef_frontal_5fold_std": 0.0415,
        "cnn_baseline_5fold_mean": 0.5143,
        "cnn_baseline_5fold_std": 0.0110,
    },
    "command": (
        "cross_validate('/tmp/fer_data/kdef_faces_64_grey.npz', OUT, folds=5, image_size=32, "
        "channels=1, keep_yaws=(0,), cnn_baseline=False, gan_epochs=16, mlp_epochs=20, "
        "learning_rate=5e-4, d_learning_rate=2e-3, adversarial_warmup_steps=200, "
        "d_warmup_steps=300, triplet_seeds=2, batch_size=16)"
    ),
    "protocol": "KDEF frontal (yaw 0), 5-fold by identity, fold 0: 48 training / 12 test subjects",
}

PRESETS = {
    "relgan": {
        "architecture": "relgan_classifier",
        "config": dict(KDEF_RUN["config"]),
        "weights": KDEF_RUN["weights"],
        "sha256": KDEF_RUN["sha256"],
        "metadata": {
            "task": "classification",
            "description": (
                "REL-GAN FER model: expression encoder G_es (five 3x3 conv + pooling blocks, "
                "30-d f(e)) learned by face reenactment, frozen, + MLP; CPU-sized 'small' widths. "
                "Reference weights from a ~6-minute CPU run (1344 GAN steps, D warm-up): 43% "
                "on held-out KDEF subjects (5-fold mean 38%, below the 51% CNN baseline; "
                "chance 14%), "
                "NOT a usable recognizer; retrain with fer_zoo.recipes.relgan.train (see the card)."
            ),
            "input_size": [KDEF_RUN["config"]["input_size"]] * 2,
            "channels": KDEF_RUN["config"]["channels"],
            "class_names": list(EXPRESSIONS),
            "input_range": [-1, 1],
            "preprocessing": {"align": True, "crop": "kdef-studio", "grey": True},
            "training_data": "KDEF",
            "protocol": KDEF_RUN["protocol"],
            "training_command": KDEF_RUN["command"],
            "accuracy": KDEF_RUN["accuracy"],
            "licence": KDEF_LICENCE,
            "paper": PAPER,
            "card": "relgan.md",
        },
    },
}
