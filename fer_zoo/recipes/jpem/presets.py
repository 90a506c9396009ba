"""JPEM presets for `fer_zoo.load`: the expression classifier C_exp (`jpem`) and the generator G
(`jpem-generator`: face + target expression + target pose -> face).

Both were trained with `fer_zoo.recipes.jpem.train` on 48 KDEF identities: the classifier with
config "kdef64" (64 px grey, on the Recognizer's crops of the KDEF photos), the generator with
config "small" (32 px grey, studio crops); accuracy is measured on the 12 held-out identities
(subject-independent). The exact commands, data and per-pose results are in docs/jpem.md and the
model cards.
"""

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.recipes.jpem.models import (
    build_classifier,
    build_generator_from_config,
)

ARCHITECTURES = {
    "jpem_classifier": build_classifier,
    "jpem_generator": build_generator_from_config,
}

PAPER = (
    "Zhang, Zhang, Mao, Xu: Joint Pose and Expression Modeling for Facial Expression Recognition, "
    "CVPR 2018"
)
KDEF_LICENCE = (
    "Weights derived from KDEF (Karolinska Directed Emotional Faces): non-commercial research "
    "use only, under the KDEF terms of use; not for commercial use or redistribution as a product."
)
KDEF_POSES = [-90.0, -45.0, 0.0, 45.0, 90.0]  # yaw of pose classes 0..4 (KDEF FL, HL, S, HR, FR)

# The presets' networks, frozen here: the training configs may change; the shipped weights fit
# only these shapes. C_exp: the kdef64 run's (synthfer64 / "small" classifier widths at 64 px).
CLASSIFIER_CONFIG = {
    "image_size": 64,
    "channels": 1,
    "num_expressions": 7,
    "classifier_filters": [8, 16, 32, 64, 64],
    "classifier_convs": [2, 2, 4, 4, 4],
    "classifier_dense_units": [128, 128],
    "dropout": 0.2,
    "batch_norm": True,
}
GENERATOR_CONFIG = {
    "image_size": 32,
    "channels": 1,
    "num_expressions": 7,
    "num_poses": 5,
    "encoder_filters": [32, 64, 128],
    "decoder_filters": [64, 32, 16],
    "code_dim": 50,
}

TRAINING_COMMAND = (
    'fer_zoo.recipes.jpem.train.train("/tmp/fer_data/kdef_faces_64_grey.npz", '
    'out_dir="/tmp/fer_runs/jpem/kdef32", config="small", generated_ratio=[0, 5], '
    "gan_epochs=6, classifier_epochs=4, batch_size=32)"
)
# The classifier preset (2026-12-02): KDEF photos cropped by the Recognizer's own preprocessor
# (train/serve parity), then the kdef64 config (GAN stage 30 min, C_exp 0N / 5N x 3 seeds).
CLASSIFIER_PREPROCESSING = {"align": True, "margin": 0.25, "crop": "detect", "grey": True}
CLASSIFIER_TRAINING_COMMAND = (
    'faces = fer_zoo.data.adapters.kdef.load_kdef(KDEF, image_size=64, channels=1, crop="detect", '
    'preprocessor=FacePreprocessor(size=64, channels=1, margin=0.25, align=True), skip_bad=True); '
    'fer_zoo.recipes.jpem.train.train(faces, out_dir=RUN, config="kdef64")  '
    "# 2-core CPU: GAN stage 30 min (2,829 G steps), six classifiers ~26 min"
)


def _metadata(task, description, card, **extra):
    return {
        "task": task,
        "description": description,
        "input_size": [32, 32],
        "channels": 1,
        "class_names": list(EXPRESSIONS),
        "input_range": [-1, 1],
        "preprocessing": {"align": True, "margin": 0.25, "crop": "kdef-studio", "grey": True},
        "training_data": "KDEF, 48 training identities x 2 sessions x 7 expressions x 5 poses (grey, 32 px)",
        "protocol": "subject-independent hold-out: 12 of 60 identities (fer_zoo.data.protocols.subject_split, seed 0)",
        "training_command": TRAINING_COMMAND,
        "paper": PAPER,
        "licence": KDEF_LICENCE,
        "card": card,
        **extra,
    }


# The kdef64 run's C_exp 5N, seed 0 (docs/jpem.md, "KDEF 64 px"): 12 held-out identities, 798
# Recognizer crops of their photos (all five poses), and the whole pipeline on their 838 photos.
JPEM_ACCURACY = {
    "held_out_identities": 0.415,
    "per_yaw": {"-90": 0.197, "-45": 0.548, "0": 0.536, "45": 0.488, "90": 0.257},
    "three_seeds_5N_mean_std": [0.410, 0.010],
    "same_architecture_without_generated_data_0N_same_steps_three_seeds_mean_std": [0.438, 0.019],
    "recognizer_kdef_photos_hl_s_hr": 0.524,
    "recognizer_kdef_photos_fl_fr": 0.199,
    "previous_32px_preset_recognizer_kdef_photos_hl_s_hr": 0.331,
}

# The SynthFER generator (training config "synthfer64"; docs/jpem.md, card jpem-generator-synthfer.md).
SYNTHFER_POSES = [-45.0, 0.0, 45.0]
SYNTHFER_GENERATOR_CONFIG = {
    "image_size": 64,
    "channels": 1,
    "num_expressions": 7,
    "num_poses": 3,
    "encoder_filters": [32, 64, 128, 256],
    "decoder_filters": [128, 64, 32, 16],
    "dense_filters": 256,
    "code_dim": 64,
}
# Measured by `python -m fer_zoo.recipes.jpem.synthfer_gate` on 20 SynthFER identities of another
# seed (420 requests: neutral frontal face -> 7 expressions x 3 yaws), against the exact renders.
SYNTHFER_GATE = {
    "heldout_ssim_to_exact": 0.811,
    "copy_input_ssim": 0.549,
    "mean_face_ssim": 0.703,
    "worst_cell_ssim": 0.755,
    "heldout_judge_on_output": 0.983,
    "judge_on_exact_renders": 1.0,
    "gate": "SSIM >= 0.70 and judge >= 0.85: passed in all 21 expression x yaw cells",
}

PRESETS = {
    "jpem": {
        "architecture": "jpem_classifier",
        "config": CLASSIFIER_CONFIG,
        "weights": "jpem_kdef64_c_exp.weights.h5",
        "sha256": "c8a029bee0fdf13232250ea35620ce8cfec585b5efcb500bfd7e63dc7c5fbec1",
        "metadata": _metadata(
            "classification",
            "JPEM C_exp (VGG-19-BN layout, narrow, 64 px): expression classifier trained on real KDEF "
            "faces plus 5N faces generated by the JPEM generator at random expressions x poses. 41 % on "
            "held-out identities (3 seeds: 41.0 +- 1.0 %), 2.9 points below the same network trained on "
            "the real faces only for as many steps (43.8 +- 1.9 %); see the card.",
            "jpem.md",
            input_size=[64, 64],
            preprocessing=dict(CLASSIFIER_PREPROCESSING),
            training_data="KDEF, 48 training identities x 2 sessions x 7 expressions x 5 poses, cropped from "
            "the photos by the Recognizer's preprocessor (3,208 faces found), grey, 64 px",
            training_command=CLASSIFIER_TRAINING_COMMAND,
            accuracy=JPEM_ACCURACY,
        ),
    },
    "jpem-generator": {
        "architecture": "jpem_generator",
        "config": GENERATOR_CONFIG,
        "weights": "jpem_kdef32_generator.weights.h5",
        "sha256": "7898a2a40438f6cce3437997bdcdc0da494d98538d682d75d819c010650df23b",
        "metadata": _metadata(
            "generation",
            "JPEM generator G: [face, expression one-hot (7), pose one-hot (5: yaw -90, -45, 0, 45, 90)] "
            "-> the face at that expression and pose (32 px grey, blurry: 6 CPU epochs).",
            "jpem-generator.md",
            pose_yaws=KDEF_POSES,
            inputs=["image", "expression_one_hot", "pose_one_hot"],
            # How fer_zoo.Synthesizer / export build the inputs (docs/synthesis.md): yaw snaps
            # to the nearest trained pose (within 22.5 degrees).
            controls={
                "inputs": {
                    "image": {"control": "face"},
                    "expression": {"control": "expression", "encoding": "one_hot"},
                    "pose": {"control": "yaw", "encoding": "bins", "values": KDEF_POSES},
                },
                "defaults": {"expression": "neutral", "yaw": 0.0},
            },
        ),
    },
    "jpem-generator-synthfer": {
        "architecture": "jpem_generator",
        "config": SYNTHFER_GENERATOR_CONFIG,
        "weights": "jpem_generator_synthfer64.weights.h5",
        "sha256": "6094f4d4e8b6232f3301528ab38c33a8bedb655ad1c17608c1303fd4714a64ec",
        "metadata": _metadata(
            "generation",
            "JPEM generator G trained on SynthFER (64 px grey): a face in, the same person at any of "
            "the 7 expressions and yaw -45 / 0 / +45 out. Passes its gate on unseen identities "
            "(SSIM 0.81 to the exact render, expression judge 98 %; see the card).",
            "jpem-generator-synthfer.md",
            input_size=[64, 64],
            preprocessing={"align": True, "margin": 0.15, "crop": "detect", "grey": True},
            training_data="SynthFER seed 0, 200 identities x 7 expressions x yaw -45/0/45 at full "
            "intensity, even light; targets the exact renders of the same identity",
            protocol="gate on 20 identities of SynthFER seed 1 (never seen)",
            training_command="fer-zoo train jpem --data synthetic --config synthfer64 --out RUN "
            "(52 min time budget, 9,531 G steps, 2-core CPU)",
            licence="Trained only on SynthFER renders (procedural faces): no data licence applies.",
            accuracy=SYNTHFER_GATE,
            pose_yaws=SYNTHFER_POSES,
            inputs=["image", "expression_one_hot", "pose_one_hot"],
            controls={
                "inputs": {
                    "image": {"control": "face"},
                    "expression": {"control": "expression", "encoding": "one_hot"},
                    "pose": {"control": "yaw", "encoding": "bins", "values": SYNTHFER_POSES},
                },
                "defaults": {"expression": "neutral", "yaw": 0.0},
            },
        ),
    },
}
