"""GASCA presets for `fer_zoo.load`: CNN2a (`gasca2`: GASCA2 pre-training, then FER2013 + KDEF;
`gasca2-kdef`: the paper's KDEF-only protocol), CNN1 (`gasca1`) and the
stacked generator as a pose/illumination normaliser (`gasca2-normalizer`), and the in-the-wild
`gasca2-fer2013` (gasca2-kdef fine-tuned on FER2013, `fer_zoo.recipes.gasca.fer2013`).

`gasca2` was trained by `fer_zoo.recipes.general.train fit --architecture cnn2a` on FER2013 + 48 KDEF
identities (its numbers are its own, on the 12 others). The KDEF presets were trained with
`fer_zoo.recipes.gasca.train` (config "kdef") on KDEF poses -45/0/+45: `gasca2-kdef`,
`gasca2-normalizer` and `gasca1` on all 60 identities. Accuracies are measured with the
same recipe trained on 48 identities and tested on the 12 others; see each model card in
fer_zoo/zoo/cards/ and docs/gasca.md for the exact commands, data and caveats.
"""

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.recipes.gasca.models import build_classifier, build_normalizer

ARCHITECTURES = {
    "gasca_classifier": build_classifier,
    "gasca_normalizer": build_normalizer,
}

PAPER = (
    "Ruiz-Garcia, Elshaw, Palade, Awad: Generative Adversarial Stacked Autoencoders for Facial "
    "Pose Normalization and Emotion Recognition, IJCNN 2020"
)
KDEF_LICENCE = (
    "Weights derived from KDEF (Karolinska Directed Emotional Faces): non-commercial research "
    "use only, under the KDEF terms of use; not for commercial use or redistribution as a product."
)

FER2013_LICENCE = (
    "Weights derived from FER2013 (ICML 2013 Representation Learning challenge, Kaggle): research "
    "use only under the challenge / Kaggle terms; initialised from KDEF-derived weights, so the "
    "KDEF non-commercial research-only terms apply too."
)

# The shipped (CPU-sized) configuration: 48 px grey faces, 4 layers (3 ConvMLP + 1 HalfConv).
KDEF_CONFIG = {
    "image_size": [48, 48],
    "channels": 1,
    "filters": [16, 32, 32, 32],
    "kernel_sizes": [5, 3, 3, 3],
    "shifting_units": 144,
    "num_classes": 7,
    "dropout": 0.3,
}


def _metadata(task, description, card, **extra):
    return {
        "task": task,
        "description": description,
        "input_size": KDEF_CONFIG["image_size"],
        "channels": KDEF_CONFIG["channels"],
        "class_names": list(EXPRESSIONS),
        "input_range": [-1, 1],
        "preprocessing": {"align": True, "margin": 0.25, "crop": "kdef-studio", "grey": True},
        "paper": PAPER,
        "licence": KDEF_LICENCE,
        "card": card,
        **extra,
    }


HELDOUT_PROTOCOL = (
    "KDEF poses HL/S/HR, subject-independent: trained on 48 identities, tested on 12 unseen "
    "identities (ids 2, 4, 8, 10, 16, 20, 27, 34, 42, 51, 52, 57; 502 images), one seed"
)

# The `gasca2` crop: the general-purpose preset's (FER2013-like framing), since FER2013 crops
# are most of its training faces; KDEF was re-cropped by the same preprocessor.
GENERAL_PREPROCESSING = {"align": True, "margin": 0.05, "eye_y": 0.4, "eye_distance": 0.42, "crop": "detect",
                         "grey": True}

PRESETS = {
    "gasca2": {
        "architecture": "gasca_classifier",
        # classifier_batch_norm: a BatchNormalization after each encoder layer (not in the paper;
        # measured at seeds 0 / 1 against the same recipe without it: FL/FR +4.2 / +3.5 points,
        # PublicTest +1.0 / +2.6, HL/S/HR level at +1.6 / -0.6; docs/gasca.md).
        # shifting_units [576, 144, 144]: a 24x24 first code grid (the paper's KDEF networks use
        # 12x12 throughout); with online distillation from fer-general it read the held-out photos
        # 73.9 % vs 70.7 % (one seed), with mixup under the teacher ("function matching")
        # 74.9 / 74.7 % at seeds 0 / 1, and that recipe run 66 epochs instead of 44: 77.5 % (seed 0;
        # docs/gasca.md, "Where the gap to 75 % is").
        "config": {"name": "cnn2a", **KDEF_CONFIG, "shifting_units": [576, 144, 144],
                   "classifier_batch_norm": True, "flip_average": True},
        "weights": "gasca2_cnn2a_bn576_fm66_fer2013_kdef48.weights.h5",
        "sha256": "1384e9784b26927255216e0e53e639dd72c5a245303cca2516e45885dcdda0d8",
        "metadata": _metadata(
            "classification",
            "CNN2a: encoder pre-trained as a pose + illumination normalising GASCA2 stacked "
            "adversarial autoencoder (KDEF, 48 identities), then trained for 7-class expression "
            "recognition on FER2013 Training + KDEF (48 identities, all five poses, weighted up 6x), "
            "on the crops fer_zoo.Recognizer makes, with batch normalisation after each encoder layer and a "
            "24x24 first code grid, its targets the probabilities of fer-general on each augmented, mixed-up batch "
            "(online distillation, function matching); averages each face with its mirror image.",
            "gasca2.md",
            preprocessing=dict(GENERAL_PREPROCESSING),
            licence=FER2013_LICENCE,
            training_data="GASCA2 pre-training: KDEF HL/S/HR of 48 identities (2014 faces) plus one relit "
            "copy each. Classifier: FER2013 Training (28,709 crops) + KDEF, 48 identities, all five poses "
            "(3,210 faces, repeated 6x per epoch); every KDEF face cropped by the Recognizer's FacePreprocessor; "
            "targets: fer-general's probabilities on each augmented, mixed-up (mixup alpha 0.4) training batch. "
            "The 12 KDEF identities 2, 4, 8, 10, 16, 20, 27, 34, 42, 51, 52, 57 were never trained on.",
            protocol="Shipped weights are the measured run: tested on the 12 unseen KDEF identities "
            "(HL/S/HR 502 photos, FL/FR 336 photos) and FER2013 PublicTest; one seed (0) of the 66-epoch recipe, "
            "shipped by a rule fixed before it ran: replace the 44-epoch weights only if its PublicTest is higher "
            "(53.6 vs 53.05 %). The 44-epoch recipe: 74.9 / 74.7 % HL/S/HR at seeds 0 / 1, 40.2 % FL/FR; "
            "without mixup (seed 0): 73.9 / 39.0 %",
            training_command=(
                "python -m fer_zoo.recipes.general.train prepare --kdef KDEF --fer2013 FER2013 --out DATA; "
                "train(DATA/kdef_train48_hl_s_hr.npz, out_dir=PRE, config='kdef', variant='gasca2', "
                "val_fraction=0.0, classifier_epochs=0, model={'shifting_units': [576, 144, 144]}); "
                "python -m fer_zoo.recipes.general.train fit --data DATA --out RUN --architecture cnn2a "
                "--init PRE/normalizer.weights.h5 --teacher fer_zoo/zoo/weights/fer_general_fer2013_kdef48_5poses.weights.h5 "
                "--precision mixed --epochs 66 --set kdef_repeat=6 distill_weight=1.0 distill_temperature=1.0 "
                "distill_mode=online mixup_alpha=0.4 --model-set classifier_batch_norm=true 'shifting_units=[576,144,144]'"
            ),
            accuracy={
                # Through fer_zoo.Recognizer on the original held-out photos (benchmarks.versus_fer).
                "held_out_photos_through_recognizer": 0.775,
                "per_pose_through_recognizer": {"-90": 0.381, "-45": 0.729, "0": 0.786, "45": 0.810, "90": 0.494},
                "fer_package_same_photos": 0.560,
                "full_profiles_through_recognizer": 0.438,
                "fer2013_publictest": 0.536,
                "previous_version_through_recognizer": 0.749,
                "previous_kdef_only_version_through_recognizer": 0.639,
                "paper_kdef": 0.9807,
            },
        ),
    },
    "gasca2-kdef": {
        "architecture": "gasca_classifier",
        "config": {"name": "cnn2a", **KDEF_CONFIG},
        "weights": "gasca2_cnn2a_kdef48_detect.weights.h5",
        "sha256": "e7f1b7e144bdfaa5f9c1d4067de388527e06212b980b1b3f084277a67d1ee200",
        "metadata": _metadata(
            "classification",
            "CNN2a: encoder pre-trained as a pose + illumination normalising GASCA2 stacked "
            "adversarial autoencoder, fine-tuned for 7-class expression recognition (KDEF), "
            "trained on the crops fer_zoo.Recognizer makes.",
            "gasca2-kdef.md",
            training_data="KDEF, all 60 identities, 2 sessions, 7 expressions, poses -45/0/+45 "
            "(2516 images), 48x48 grey, plus one relit copy per image for GASCA2; every face cropped "
            "by the Recognizer's FacePreprocessor (Haar frontal/profile + eye alignment, margin 0.25)",
            # Train/serve parity: the training crops are the Recognizer's, not the KDEF studio crop.
            preprocessing={"align": True, "margin": 0.25, "crop": "detect", "grey": True},
            protocol="Shipped weights: all 60 identities. Accuracy: same recipe, " + HELDOUT_PROTOCOL,
            training_command=(
                'load_kdef(KDEF, poses=("HL", "S", "HR"), crop="detect", preprocessor=FacePreprocessor('
                'size=48, channels=1, margin=0.25, detectors=DETECTORS)).save(NPZ); '
                'train(NPZ, out_dir=..., config="kdef", variant="gasca2", val_fraction=0.0)'
            ),
            accuracy={
                "held_out_identities": 0.639,
                "per_pose": {"-45": 0.614, "0": 0.661, "45": 0.643},
                "per_expression": {"angry": 0.625, "disgust": 0.845, "fear": 0.333, "happy": 0.958,
                                   "neutral": 0.634, "sad": 0.236, "surprise": 0.847},
                "held_out_identities_relit": 0.498,
                "same_network_from_scratch": 0.643,
                # The same 502 held-out photos through fer_zoo.Recognizer (detection, alignment,
                # classification) vs the `fer` package (benchmarks.photos).
                "held_out_photos_through_recognizer": 0.639,
                "fer_package_same_photos": 0.560,
                # The previous version, trained on KDEF studio crops: 66.3 % on its own crops,
                # 35.9 % on the same photos through the Recognizer.
                "previous_studio_crop_version_held_out": 0.663,
                "previous_studio_crop_version_photos_through_recognizer": 0.359,
                "paper_kdef": 0.9807,
            },
        ),
    },
    "gasca1": {
        "architecture": "gasca_classifier",
        "config": {"name": "cnn1", **KDEF_CONFIG},
        "weights": "gasca1_cnn1_kdef48.weights.h5",
        "sha256": "9cfbb4e9c0d9f442920204fe76c6306edc3af71b1151daa4d4038204080fcfb8",
        "metadata": _metadata(
            "classification",
            "CNN1: encoder pre-trained as a pose-normalising GASCA1 stacked adversarial "
            "autoencoder, fine-tuned for 7-class expression recognition (KDEF).",
            "gasca1.md",
            training_data="KDEF, all 60 identities, 2 sessions, 7 expressions, poses -45/0/+45 "
            "(2516 images), 48x48 grey (pose only, no relit copies)",
            protocol="Shipped weights: all 60 identities. Accuracy: same recipe, " + HELDOUT_PROTOCOL,
            training_command='train("kdef", out_dir=..., config="kdef", variant="gasca1", val_fraction=0.0)',
            accuracy={
                "held_out_identities": 0.635,
                "per_pose": {"-45": 0.627, "0": 0.625, "45": 0.655},
                "per_expression": {"angry": 0.681, "disgust": 0.761, "fear": 0.444, "happy": 0.903,
                                   "neutral": 0.606, "sad": 0.319, "surprise": 0.736},
                "same_network_from_scratch": 0.651,
                # The first-version recipe (L1 code layers, 15 un-augmented classifier epochs).
                "first_version_held_out_identities": 0.645,
                "paper_kdef": 0.9681,
            },
        ),
    },
    "gasca2-normalizer-synthfer": {
        "architecture": "gasca_normalizer",
        # flip_average: G(x) averaged with the mirror of G(mirror(x)) (+1.2 judge points, +0.009
        # SSIM on the gate; docs/gasca.md).
        "config": {"name": "gasca2_normalizer", "flip_average": True, **{"image_size": [64, 64], "channels": 1, "filters": [32, 64, 64, 64], "kernel_sizes": [5, 3, 3, 3], "shifting_units": [256, 256, 256], "first_layer_strides": 2, "g_init_scale": 2.0, "d_init_scale": 2.0, "init_mode": "fan_in", "num_classes": 7, "dropout": 0.0, "encoder_layer": "convmlp", "frontal_layer": "halfconv"}},
        "weights": "gasca2_normalizer_synthfer64.weights.h5",
        "sha256": "8ec3371896201baa4d82b532bc4fab8ba7521f1ac057929d54a200a91750f07b",
        "metadata": _metadata(
            "normalization",
            "GASCA2 stacked generator G trained on SynthFER (64 px): a face at yaw -60..60 under "
            "even or harsh light in, the frontal evenly lit face of the same person and expression "
            "out. Meets both gates on unseen identities: SSIM 0.85, expression judge 93.6 % (96-99 % from "
            "even light, 86-94 % from harsh light; 90.9 % on a second held-out seed; see the card).",
            "gasca2-normalizer-synthfer.md",
            input_size=[64, 64],
            preprocessing={"align": True, "margin": 0.15, "crop": "detect", "grey": True},
            licence="Trained only on SynthFER renders (procedural faces): no data licence applies.",
            training_data="SynthFER seed 0: 200 identities x 7 expressions x 9 yaws (-60..60) x even/harsh "
            "light, then 570 identities x 7 x 9 x even + 2 harsh lights; targets the exact frontal "
            "even-light renders",
            training_command="fer-zoo train gasca2 --data synthetic --config synthfer64 --precision "
            "mixed_bfloat16 --out RUN --set time_budget_minutes=27; then python -m "
            "fer_zoo.recipes.gasca.finetune --weights RUN/normalizer.weights.h5 --out RUN2 "
            "--critic-weight 0 --identities 600 --light-copies 2 --schedule cosine --epochs 4 "
            "--learning-rate 1.6e-3 (27 + ~32 min)",
            controls={"inputs": {"image": {"control": "face"}}},
            accuracy={"heldout_ssim_to_exact_frontal": 0.849, "heldout_judge_on_output": 0.936,
                      "judge_even_light": 0.976, "judge_harsh_light": 0.897,
                      "second_heldout_seed_ssim": 0.853, "second_heldout_seed_judge": 0.909,
                      "copy_input_ssim": 0.370, "mean_face_ssim": 0.645},
        ),
    },
    "gasca2-normalizer": {
        "architecture": "gasca_normalizer",
        "config": {"name": "gasca2_normalizer", **KDEF_CONFIG},
        "weights": "gasca2_normalizer_kdef48.weights.h5",
        "sha256": "861268de6240bad83ecec527917cb580ce4549d3434752ff86408db2be08c159",
        "metadata": _metadata(
            "normalization",
            "GASCA2 stacked generator G (encoder_1..4, decoder_4..1): a face at -45/0/+45 degrees "
            "or relit in, the frontal evenly lit face out; encoder_4's output is the "
            "pose-invariant code. Blurry at this budget (see the card).",
            "gasca2-normalizer.md",
            training_data="KDEF, all 60 identities, poses -45/0/+45 paired with the frontal "
            "image of the same person, session and expression, plus relit inputs",
            protocol="Reconstruction L1 to the frontal target, same recipe on 12 held-out identities",
            # fer_zoo.Synthesizer (docs/synthesis.md): face in, frontal evenly lit face out.
            controls={"inputs": {"image": {"control": "face"}}},
            accuracy={"held_out_l1_to_frontal_by_yaw": {"-45": 0.208, "0": 0.194, "45": 0.208}},
        ),
    },
    "gasca2-fer2013": {
        "architecture": "gasca_classifier",
        "config": {"name": "cnn2a", **KDEF_CONFIG},
        "weights": "gasca2_cnn2b_fer2013.weights.h5",
        "sha256": "26e3d6577c5c7c5fc109eca28c74e2f0da5317c2979d6d75bcb253ea96d54028",
        "metadata": _metadata(
            "classification",
            "CNN2b-style in-the-wild classifier: the gasca2 network (encoder GASCA2-pretrained "
            "on KDEF, then fine-tuned on KDEF) fine-tuned for 7-class expression recognition "
            "on FER2013 train. The paper's CNN2b is pre-trained on its own corpora instead.",
            "gasca2-fer2013.md",
            training_data="FER2013 train (28,709 in-the-wild 48x48 grey faces, used as given), "
            "initialised from the gasca2 preset (KDEF)",
            protocol="validated on PublicTest (3,589 images) every epoch; model selection on it, "
            "so slightly optimistic; one seed",
            training_command="python -m fer_zoo.recipes.gasca.fer2013 fer2013_train_48.npz "
            "fer2013_publictest_48.npz OUT --epochs 25",
            accuracy={"publictest": 0.4714, "best_epoch": 21, "epochs": 25, "same_network_from_scratch_publictest": 0.5026, "fer_package_published": 0.66, "fer_package_measured_1000_publictest": 0.534},
            licence=FER2013_LICENCE,
        ),
    },
}
