"""FESR presets for `fer_zoo.load`: the recognizer R (`fesr`) and FESGAN's decoder (`fesr-generator`).

Builders return plain functional models made of registered layers, identical in structure to
what `fer_zoo.recipes.fesr.train` saves as `recognizer.keras` / `generator.keras`, so a trained
run's weights load into them (`fer_zoo.load("fesr", weights="runs/fesr/recognizer.keras")`).
"""

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.recipes.fesr import light_cnn, models

PAPER = (
    "Yan, Huang, Chen, Shen, Wang, 'Joint Deep Learning of Facial Expression Synthesis and "
    "Recognition', IEEE Transactions on Multimedia 22(11), 2020"
)
KDEF_LICENCE = (
    "Weights trained on KDEF (Karolinska Directed Emotional Faces): non-commercial research use "
    "only, under the KDEF terms of use; code Apache-2.0."
)

# Widths of the CPU-sized presets, frozen here: they were trained with the "small" widths of
# the time (the training config may change; the shipped weights fit only these shapes).
SMALL_LIGHT_CNN = {"widths": (16, 32, 48, 32, 32), "blocks": (1, 2, 3, 4), "embedding_dim": 128}
PRESET_NETWORK = {
    "image_size": 32,
    "latent_dim": 64,
    "encoder_widths": (32, 64, 128),
    "decoder_widths": (128, 64, 32),
    "critic_widths": (32, 64, 128),
    "critic_class_width": 128,
    "latent_critic_widths": (64, 32, 16),
    "recognizer_conv_widths": (64, 128),
    "recognizer_dense_widths": (256, 128),
    "dropout": 0.5,
}


def build_fesr_recognizer(
    input_size=64,
    channels=1,
    num_classes=7,
    network=None,
    light_cnn_widths=SMALL_LIGHT_CNN["widths"],
    light_cnn_blocks=SMALL_LIGHT_CNN["blocks"],
    embedding_dim=SMALL_LIGHT_CNN["embedding_dim"],
):
    """R = R_cls(R_ext(x)): Light CNN-29 Conv1..Pool3 (frozen) + Table II head; softmax output.

    `network` is a `models.NETWORK_CONFIGS` name or dict (None: the presets' frozen widths,
    `PRESET_NETWORK`); a run trained with `config="small"` loads into `network="small"` and
    its `light_cnn_widths`.
    """
    identity_net = light_cnn.build_light_cnn29(
        input_size, channels, tuple(light_cnn_widths), tuple(light_cnn_blocks), embedding_dim
    )
    trunk = light_cnn.light_cnn_trunk(identity_net)
    cfg = models.network_config(network or PRESET_NETWORK, image_size=input_size)
    head, r_cls = models.build_recognizer_head(
        trunk.output_shape[1:], cfg["recognizer_conv_widths"], cfg["recognizer_dense_widths"],
        cfg["dropout"], num_classes,
    )
    recognizer, _ = models.build_recognizer(trunk, head, r_cls)
    return recognizer


def build_fesr_generator(image_size=64, channels=1, num_classes=7, network=None, decoder_widths=None):
    """G_dec: `[latent (64), expression code u (K)]` -> face; u = intensity * (2 * one_hot - 1)
    (`fer_zoo.layers.ExpressionIntensityCode`), latent = g(x) or z ~ U(-1, 1)^64."""
    overrides = {"image_size": image_size}
    if decoder_widths is not None:
        overrides["decoder_widths"] = tuple(decoder_widths)
    cfg = models.network_config(network or PRESET_NETWORK, **overrides)
    return models.build_decoder(image_size, channels, cfg["decoder_widths"], cfg["latent_dim"], num_classes)


def build_fesr_editor(image_size=64, channels=1, num_classes=7, encoder_widths=(32, 64, 128, 256),
                      decoder_widths=(256, 128, 64, 32), latent_dim=64, skip_connections=False,
                      residual_output=False, network=None):
    """The whole generator G = G_dec([G_enc(x), u(y)]): `[image, expression one-hot (K),
    intensity (1)] -> face` (`models.build_generator`), so it edits a given face; what
    `train(config="synthfer64")` saves as `generator.keras`.

    `skip_connections` / `residual_output`: the identity path (G_enc's 8..32 px maps
    concatenated into G_dec, output `clip(x + delta)`; `models.NETWORK_CONFIGS["synthfer64_skip"]`,
    what `config="synthfer64"` trains now). Off by default: the shipped
    `fesr_generator_synthfer64.weights.h5` has no identity path. `network`: a
    `models.NETWORK_CONFIGS` name or dict (e.g. "synthfer64_skip") whose widths, latent size
    and identity path replace the arguments above."""
    if network is not None:
        cfg = models.network_config(network, image_size=image_size)
    else:
        cfg = {"image_size": image_size, "encoder_widths": tuple(encoder_widths),
               "decoder_widths": tuple(decoder_widths), "latent_dim": latent_dim,
               "skip_connections": skip_connections, "residual_output": residual_output}
    encoder, decoder = models.build_encoder_decoder(cfg, channels, num_classes)
    return models.build_generator(encoder, decoder)


ARCHITECTURES = {
    "fesr_recognizer": build_fesr_recognizer,
    "fesr_generator": build_fesr_generator,
    "fesr_editor": build_fesr_editor,
}

PRESETS = {
    "fesr": {
        "architecture": "fesr_recognizer",
        "config": {
            "input_size": 64,
            "channels": 1,
            "num_classes": 7,
            "network": "synthfer64",
            "light_cnn_widths": [16, 32, 48, 32, 32],
            "light_cnn_blocks": [1, 1, 1, 1],
            "embedding_dim": 64,
        },
        "weights": "fesr_kdef64.weights.h5",
        "sha256": "c4ae521b97a03d6110369044af2f19c8952fc9e79aee5c7d931fde952bfea764",
        "metadata": {
            "task": "classification",
            "description": (
                "FESR recognition network R (Light CNN-29 structure Conv1..Pool3, fine-tuned, + Table II "
                "head, CPU-sized widths) at 64 px on five KDEF poses: the BASELINE variant (R on real faces "
                "alone), which beat JL-IL by 0.8 points on average over 3 seeds (54.2 +- 13.2 vs 53.4 +- 4.0 %, "
                "within noise); seed 0. Through the Recognizer on 12 unseen KDEF identities: HL/S/HR 70.9 %, "
                "FL/FR 42.3 %; see the card."
            ),
            "input_size": [64, 64],
            "channels": 1,
            "class_names": list(EXPRESSIONS),
            "input_range": [-1, 1],
            "preprocessing": {"align": True, "margin": 0.25, "crop": "detect", "grey": True},
            "training_data": (
                "KDEF, 48 training identities x 2 sessions x 7 expressions x 5 poses, cropped from the "
                "photos by the Recognizer's preprocessor (3,210 faces found), grey, 64 px"
            ),
            "protocol": (
                "subject-independent holdout: the 12 KDEF identities the other presets hold out "
                "(796 crops, all five poses), fer_zoo.data.protocols.subject_split(test_fraction=0.2, seed=0)"
            ),
            "training_command": (
                "python -m fer_zoo.recipes.fesr.train compare --data kdef64_detect.npz --out RUN "
                "(config kdef64; BASELINE and JL-IL x seeds 0, 1, 2; the crops as in docs/jpem.md "
                '"KDEF 64 px"); this preset is RUN/BASELINE_s0/recognizer.keras'
            ),
            "accuracy": {
                "held_out_identities_all_poses": 0.626,
                "per_yaw": {"-90": 0.437, "-45": 0.657, "0": 0.714, "45": 0.756, "90": 0.526},
                "baseline_three_seeds_mean_std": [0.542, 0.132],
                "jl_il_three_seeds_mean_std": [0.534, 0.040],
                "recognizer_kdef_photos_hl_s_hr": 0.709,
                "recognizer_kdef_photos_fl_fr": 0.423,
                "fer_package_same_photos_hl_s_hr": 0.560,
                "previous_32px_preset_recognizer_kdef_photos_hl_s_hr": 0.231,
            },
            "identity_network": (
                "fallback: Light CNN-29 structure trained as an identity classifier on the 48 training "
                "identities (no pretrained Light CNN weights available), its Conv1..Pool3 copied into R "
                "and fine-tuned with it"
            ),
            "licence": KDEF_LICENCE,
            "paper": PAPER,
            "card": "fesr.md",
        },
    },
    "fesr-generator": {
        "architecture": "fesr_generator",
        "config": {"image_size": 32, "channels": 1, "num_classes": 7},
        "weights": "fesr_generator_synthfer32.weights.h5",
        "sha256": "22349a0f579e95726c7c08732ea1e620e40fa844058787d663d32252fbb7332c",
        "metadata": {
            "task": "generation",
            "description": (
                "FESGAN decoder G_dec (Table I, 32 px widths): inputs [latent (64,), expression "
                "code (7,)] -> face; code = intensity * (2 * one_hot(y) - 1), latent = g(x) or "
                "z ~ U(-1, 1)^64 for a new identity. Trained on SynthFER only (FESR JL)."
            ),
            "input_size": [32, 32],
            "channels": 1,
            "class_names": list(EXPRESSIONS),
            "input_range": [-1, 1],
            "latent_dim": 64,
            # How fer_zoo.Synthesizer / export build the inputs (docs/synthesis.md). The decoder
            # has no encoder g(x): it renders new identities from z ~ U(-1, 1)^64 and cannot
            # edit a given face. An encoder+decoder preset maps "image" to {"control": "face"}.
            "controls": {
                "inputs": {
                    "latent": {"control": "latent", "encoding": "uniform", "size": 64,
                               "range": [-1.0, 1.0]},
                    "expression_code": {"control": ["expression", "intensity"],
                                        "encoding": "intensity_code"},
                },
                "defaults": {"expression": "neutral", "intensity": 1.0},
            },
            "training_data": "SynthFER (procedural faces, 24 identities, intensities 0.5 and 1.0)",
            "synthesis": {"psnr": 18.42, "ssim": 0.557, "protocol": "held-out SynthFER identities, "
                          "translate to every other expression at intensity 1 vs exact render"},
            "licence": "SynthFER-derived weights: no third-party data; fer_zoo licence.",
            "paper": PAPER,
            "card": "fesr.md",
        },
    },
    "fesr-generator-synthfer": {
        "architecture": "fesr_editor",
        "config": {"image_size": 64, "channels": 1, "num_classes": 7, "encoder_widths": [32, 64, 128, 256],
                   "decoder_widths": [256, 128, 64, 32], "latent_dim": 64, "skip_connections": True,
                   "residual_output": True},
        "weights": "fesr_generator_synthfer64_skip.weights.h5",
        "sha256": "60205587445425aea505ad6a7d47d7a85a275bf09a50e515f00d6f9999240f7d",
        "metadata": {
            "task": "generation",
            "description": (
                "FESGAN's whole generator G = G_dec([G_enc(x), u(y)]) with an identity path (U-Net "
                "skips from G_enc's 8-32 px maps, output clip(x + delta)) trained on SynthFER (64 px "
                "grey): a face in, the same person out at the requested expression with intensity "
                "v in [0, 1] (u = v (2 one_hot(y) - 1)). Passes its gate on unseen identities "
                "(SSIM 0.980, above copying the input 0.939; judge 99 % at intensity 1; the judge's "
                "probability rises with v, Spearman 1.0; see the card)."
            ),
            "input_size": [64, 64],
            "channels": 1,
            "class_names": list(EXPRESSIONS),
            "input_range": [-1, 1],
            "preprocessing": {"align": True, "margin": 0.15, "crop": "detect", "grey": True},
            "controls": {
                "inputs": {
                    "image": {"control": "face"},
                    "expression": {"control": "expression", "encoding": "one_hot"},
                    "intensity": {"control": "intensity", "encoding": "scalar"},
                },
                "defaults": {"expression": "neutral", "intensity": 1.0},
            },
            "training_data": (
                "SynthFER seed 0, 200 identities x 6 expressions x intensities 0.2..1.0 + neutral, "
                "frontal, even light; targets the exact renders of the same identity"
            ),
            "protocol": "gate on 20 identities of SynthFER seed 1 (never seen)",
            "training_command": (
                "fer-zoo train fesr --data synthetic --config synthfer64 --out RUN "
                "--set time_budget_minutes=40 (40 min, 7,201 G steps, 2-core CPU)"
            ),
            "accuracy": {
                "heldout_ssim_to_exact": 0.980,
                "heldout_ssim_at_intensity_1": 0.968,
                "copy_input_ssim": 0.939,
                "copy_input_ssim_at_intensity_1": 0.882,
                "mean_face_ssim": 0.649,
                "heldout_l1_per_pixel": 0.011,
                "copy_input_l1_per_pixel": 0.012,
                "judge_at_intensity_1": 0.992,
                "median_spearman_judge_vs_intensity": 1.0,
                "exact_renders_median_spearman": 0.943,
                "gate": "median Spearman >= 0.9, judge at 1 >= 0.85, SSIM >= 0.70: passed; "
                        "SSIM above copying the input",
                "previous_version_without_identity_path": {"ssim": 0.772, "spearman": 0.943, "judge_at_1": 0.992},
            },
            "licence": "Trained only on SynthFER renders (procedural faces): no data licence applies.",
            "paper": PAPER,
            "card": "fesr-generator-synthfer.md",
        },
    },
}
