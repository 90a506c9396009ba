"""FESR networks (paper Tables I and II): FESGAN's G_enc, G_dec, D_img, D_z and the recognizer R.

Every builder returns a functional `keras.Model`. The "paper" widths reproduce Tables I/II at
128 x 128; the "small" widths keep the same structure (same layer types, same number of
stride-2 stages per halving of the image) for 16-64 px CPU runs.

Resolution rules (so any power-of-two size works):
* G_enc: one `Conv(w, 4, 2)` per entry of `widths` (128 px / 5 convs -> 4 x 4), then FC(latent).
* G_dec: the `[g(x), u(y')]` vector is a 1 x 1 map; the first `DeConv(w0, 4, 2)` uses "valid"
  padding (1 -> 4), each further DeConv doubles, the last is `DeConv(c, 4, 2)` with tanh, so
  `image_size = 4 * 2 ** len(widths)` (Table I: 5 widths + DeConv(c) -> 128).
* Identity path (off in the paper's G; on in "synthfer64_skip"): `skip_connections`
  concatenates each G_enc map above 4 x 4 (after its LReLU) to G_dec's map of the same size
  (after its ReLU), U-Net style; `residual_output` makes G_dec's last DeConv a change:
  `out = clip(x + delta, -1, 1)`. G_enc then returns `[g(x), *skip maps (coarse to fine),
  x]` and G_dec takes `[latent, u, *the same]` (docs/fesr.md, "SynthFER 64 px generator").
* D_img: one `Conv(w, 4, 2)` per trunk width; adversarial head `Conv(1, 4, 2)` averaged over
  its patch map (a WGAN critic, no sigmoid); classification head `Conv(cls_width, 4, 2)` then
  `Conv(K, s, 1)` "valid" over the remaining `s x s` map (Table I's `Conv(K, 4, 1)` at 128 px).
"""

import math

import keras
from keras import layers

from fer_zoo.layers import ExpressionIntensityCode, InstanceNormalization

LEAKY_SLOPE = 0.2

# Widths of every network. "paper" = Tables I/II; "small" = same structure, CPU sized.
NETWORK_CONFIGS = {
    "paper": {
        "image_size": 128,
        "latent_dim": 64,
        "encoder_widths": (64, 128, 256, 512, 1024),
        "decoder_widths": (512, 256, 128, 64, 32),
        "critic_widths": (64, 128, 256, 512),
        "critic_class_width": 1024,
        "latent_critic_widths": (64, 32, 16),
        "recognizer_conv_widths": (256, 512),
        "recognizer_dense_widths": (2048, 512),
        "dropout": 0.5,
        "skip_connections": False,
        "residual_output": False,
    },
    "small": {
        "image_size": 32,
        "latent_dim": 64,
        "encoder_widths": (16, 32, 64),
        "decoder_widths": (64, 32, 16),
        "critic_widths": (16, 32, 64),
        "critic_class_width": 64,
        "latent_critic_widths": (64, 32, 16),
        "recognizer_conv_widths": (32, 64),
        "recognizer_dense_widths": (128, 64),
        "dropout": 0.5,
        # The identity path (see the module docstring): off in the paper's G.
        "skip_connections": False,
        "residual_output": False,
    },
}
# SynthFER at 64 px grey (training config "synthfer64", preset `fesr-generator-synthfer`):
# the "small" structure with one more stride-2 stage each way (64 -> 4 px) and doubled widths.
# G_enc 4x4 convs 32..256 + IN -> 64-d tanh code; G_dec 1x1 -> 4x4 (valid) DeConvs 256..32 + IN
# -> 64 px tanh image; D_img 32..128. Per image ~26 M MACs in G_enc and ~26 M in G_dec (4x4
# kernels), so a paired step (G_dec twice, D_img with its gradient penalty, F_id) stays cheap.
# `output_init_stddev`: the tanh image layer starts at N(0, 0.02) (docs/fesr.md, "SynthFER
# 64 px generator": Glorot there starts G at pixel noise); every other layer keeps Keras'
# Glorot-uniform default, as the other configs.
NETWORK_CONFIGS["synthfer64"] = {
    **NETWORK_CONFIGS["small"],
    "image_size": 64,
    "encoder_widths": (32, 64, 128, 256),
    "decoder_widths": (256, 128, 64, 32),
    "critic_widths": (32, 64, 128),
    "critic_class_width": 128,
    "output_init_stddev": 0.02,
}
# The same networks with the identity path for editing (training config "synthfer64"): G_enc's
# 8, 16 and 32 px maps are concatenated to G_dec's maps of the same size, and G_dec's last
# layer predicts a change of the input (`clip(x + delta)`; delta's layer at N(0, 0.002), so G
# starts within ~0.02 per pixel of its input). "synthfer64" (no identity path) stays the
# shipped preset's shapes. Probe numbers: docs/fesr.md ("Identity path").
NETWORK_CONFIGS["synthfer64_skip"] = {
    **NETWORK_CONFIGS["synthfer64"],
    "skip_connections": True,
    "residual_output": True,
    "output_init_stddev": 0.002,
}


def _check_power_of_two(image_size, minimum, what):
    if not isinstance(image_size, int) or image_size < minimum or image_size & (image_size - 1):
        raise ValueError(f"{what}: image_size must be a power of two >= {minimum}, got {image_size!r}.")


def build_encoder(image_size=128, channels=1, widths=(64, 128, 256, 512, 1024), latent_dim=64, name="g_enc",
                  skip_connections=False, residual_output=False):
    """G_enc: `Conv(w, 4, 2), IN, LReLU` per width, then `FC(latent_dim), tanh` -> g(x) in (-1, 1).

    With `skip_connections` and/or `residual_output` (the identity path, see the module
    docstring) the model returns a list: `[g(x), the LReLU maps larger than the last, coarse
    to fine (skip_connections), x itself (residual_output)]`, which `build_decoder` with the
    same flags takes after `[latent, u]`."""
    _check_power_of_two(image_size, 2 ** len(widths), "build_encoder")
    image = keras.Input((image_size, image_size, channels), name="image")
    x = image
    maps = []
    for i, width in enumerate(widths):
        x = layers.Conv2D(width, 4, strides=2, padding="same", name=f"conv{i + 1}")(x)
        x = InstanceNormalization(name=f"in{i + 1}")(x)
        x = layers.LeakyReLU(LEAKY_SLOPE, name=f"lrelu{i + 1}")(x)
        maps.append(x)
    x = layers.Flatten(name="flatten")(x)
    latent = layers.Dense(latent_dim, activation="tanh", dtype="float32", name="latent")(x)
    bypass = list(reversed(maps[:-1])) if skip_connections else []
    if residual_output:
        bypass.append(layers.Identity(dtype="float32", name="source")(image))
    return keras.Model(image, [latent, *bypass] if bypass else latent, name=name)


def build_decoder(
    image_size=128, channels=1, widths=(512, 256, 128, 64, 32), latent_dim=64, num_classes=7, name="g_dec",
    output_init_stddev=None, skip_widths=(), residual_output=False,
):
    """G_dec: `[g(x) or z, u(y')]` -> `DeConv(w, 4, 2), IN, ReLU` per width -> `DeConv(c, 4, 2), tanh`.

    `output_init_stddev`: None keeps Keras' Glorot-uniform initialiser on the image layer; a
    number initialises that layer's kernel from N(0, output_init_stddev).

    Identity path (editing an encoded face; see the module docstring):
    `skip_widths`: channels of G_enc's maps (coarse to fine) concatenated after the ReLU of
    every DeConv but the first (8 px, 16 px, ...): `len(widths) - 1` entries, or `()` (none).
    `residual_output`: one more input, the face x being edited; the image layer (no tanh)
    predicts a change and the output is `clip(x + delta, -1, 1)`. Inputs:
    `[latent, u, *skip maps, x]`."""
    expected = 4 * 2 ** len(widths)
    if image_size != expected:
        raise ValueError(
            f"build_decoder: {len(widths)} decoder widths give {expected} px images, not image_size="
            f"{image_size}; use log2(image_size / 4) = {math.log2(max(image_size, 1) / 4):g} widths."
        )
    skip_widths = tuple(skip_widths or ())
    if skip_widths and len(skip_widths) != len(widths) - 1:
        raise ValueError(
            f"build_decoder: {len(skip_widths)} skip_widths for {len(widths)} decoder widths; expected "
            f"{len(widths) - 1} (one per map of 8 px and more)."
        )
    latent = keras.Input((latent_dim,), name="latent")
    code = keras.Input((num_classes,), name="expression_code")
    skips = [
        keras.Input((4 * 2 ** (i + 1), 4 * 2 ** (i + 1), width), name=f"skip{4 * 2 ** (i + 1)}")
        for i, width in enumerate(skip_widths)
    ]
    source = keras.Input((image_size, image_size, channels), name="source") if residual_output else None
    x = layers.Concatenate(name="concat")([latent, code])
    x = layers.Reshape((1, 1, latent_dim + num_classes), name="to_map")(x)
    for i, width in enumerate(widths):
        # The first transposed conv grows the 1 x 1 code to 4 x 4 ("valid"); the rest double.
        padding = "valid" if i == 0 else "same"
        x = layers.Conv2DTranspose(width, 4, strides=2, padding=padding, name=f"deconv{i + 1}")(x)
        x = InstanceNormalization(name=f"in{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        if skips and i >= 1:
            x = layers.Concatenate(name=f"skip_concat{i + 1}")([x, skips[i - 1]])
    initializer = (
        "glorot_uniform" if output_init_stddev is None else keras.initializers.RandomNormal(0.0, output_init_stddev)
    )
    image = layers.Conv2DTranspose(
        channels, 4, strides=2, padding="same", activation=None if residual_output else "tanh", dtype="float32",
        name="delta" if residual_output else "image", kernel_initializer=initializer,
    )(x)
    if residual_output:
        image = layers.Add(dtype="float32", name="residual")([source, image])
        image = layers.Activation("hard_tanh", dtype="float32", name="image")(image)  # clip to [-1, 1]
    inputs = [latent, code, *skips] + ([source] if residual_output else [])
    return keras.Model(inputs, image, name=name)


def build_generator(encoder, decoder, name="fesr_generator"):
    """G as one functional model: `[image, expression one-hot (K), intensity (1)] -> image`,
    i.e. `G_dec([G_enc(x), u])` with `u = v (2y - 1)` (eq. 2) computed inside
    (`ExpressionIntensityCode`); loads with `safe_mode=True`."""
    num_classes = int(decoder.inputs[1].shape[-1])
    image = keras.Input(encoder.inputs[0].shape[1:], name="image")
    expression = keras.Input((num_classes,), name="expression")
    intensity = keras.Input((1,), name="intensity")
    code = ExpressionIntensityCode(num_classes, name="intensity_code")(expression, intensity=intensity)
    latent, bypass = split_encoding(encoder(image))
    check_identity_path(encoder, decoder)
    return keras.Model([image, expression, intensity], decoder([latent, code, *bypass]), name=name)


def split_encoding(encoded):
    """`(g(x), identity-path tensors)` of G_enc's output (a tensor, or a list with the identity
    path; `build_encoder`)."""
    if isinstance(encoded, list | tuple):
        return encoded[0], list(encoded[1:])
    return encoded, []


def check_identity_path(encoder, decoder):
    """Raise when G_enc returns a different number of identity-path tensors than G_dec takes."""
    given, taken = len(encoder.outputs) - 1, len(decoder.inputs) - 2
    if given != taken:
        raise ValueError(
            f"FESR: the encoder returns {given} identity-path tensor(s) (skip maps, the source face) and the "
            f"decoder takes {taken}; build both from one network config (skip_connections, residual_output)."
        )
    return taken


def build_image_critic(
    image_size=128, channels=1, widths=(64, 128, 256, 512), class_width=1024, num_classes=7, name="d_img"
):
    """D_img: shared `Conv(w, 4, 2), LReLU` trunk; WGAN critic score and K class logits.

    No normalisation in the critic (WGAN-GP's penalty is per sample).
    """
    _check_power_of_two(image_size, 2 ** (len(widths) + 1), "build_image_critic")
    image = keras.Input((image_size, image_size, channels), name="image")
    x = image
    for i, width in enumerate(widths):
        x = layers.Conv2D(width, 4, strides=2, padding="same", name=f"conv{i + 1}")(x)
        x = layers.LeakyReLU(LEAKY_SLOPE, name=f"lrelu{i + 1}")(x)
    patches = layers.Conv2D(1, 4, strides=2, padding="same", name="adv_conv")(x)
    score = layers.GlobalAveragePooling2D(dtype="float32", name="adversarial")(patches)
    c = layers.Conv2D(class_width, 4, strides=2, padding="same", name="cls_conv1")(x)
    c = layers.LeakyReLU(LEAKY_SLOPE, name="cls_lrelu")(c)
    remaining = image_size // 2 ** (len(widths) + 1)
    c = layers.Conv2D(num_classes, remaining, strides=1, padding="valid", name="cls_conv2")(c)
    logits = layers.Flatten(dtype="float32", name="classification")(c)
    return keras.Model(image, {"adversarial": score, "classification": logits}, name=name)


def build_latent_critic(latent_dim=64, widths=(64, 32, 16), name="d_z"):
    """D_z: `FC(64), FC(32), FC(16)` with LReLU, `FC(1), sigmoid`: P(input ~ U(-1, 1)^n)."""
    latent = keras.Input((latent_dim,), name="latent")
    x = latent
    for i, width in enumerate(widths):
        x = layers.Dense(width, name=f"fc{i + 1}")(x)
        x = layers.LeakyReLU(LEAKY_SLOPE, name=f"lrelu{i + 1}")(x)
    prob = layers.Dense(1, activation="sigmoid", dtype="float32", name="prior_probability")(x)
    return keras.Model(latent, prob, name=name)


def build_recognizer_head(
    trunk_shape, conv_widths=(256, 512), dense_widths=(2048, 512), dropout=0.5, num_classes=7, name="r_head"
):
    """The trainable part of R (Table II) on top of the frozen identity trunk.

    Returns `(r_ext_head, r_cls)`: `r_ext_head` maps trunk maps to the 512-d expression feature
    (`Conv(256,3,2), Conv(512,3,2), FC(2048), FC(512), Dropout`), `r_cls` is `FC(K)` (logits).
    """
    maps = keras.Input(trunk_shape, name="trunk_maps")
    x = maps
    for i, width in enumerate(conv_widths):
        x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu", name=f"conv{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(dense_widths):
        x = layers.Dense(width, activation="relu", name=f"fc{i + 1}")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    feature = layers.Activation("linear", dtype="float32", name="feature")(x)
    r_ext_head = keras.Model(maps, feature, name=f"{name}_ext")
    feat_in = keras.Input((dense_widths[-1],), name="feature")
    logits = layers.Dense(num_classes, dtype="float32", name="logits")(feat_in)
    r_cls = keras.Model(feat_in, logits, name="r_cls")
    return r_ext_head, r_cls


def build_recognizer(trunk, r_ext_head, r_cls, name="fesr_recognizer"):
    """R = R_cls(R_ext(x)) as one functional model; returns `(recognizer, r_ext)`.

    `trunk` is the frozen Light CNN-29 part (conv1 .. pool3) incl. its input adapter.
    """
    image = keras.Input(trunk.input_shape[1:], name="image")
    feature = r_ext_head(trunk(image))
    r_ext = keras.Model(image, feature, name="r_ext")
    logits = r_cls(feature)
    probs = layers.Softmax(dtype="float32", name="probabilities")(logits)
    return keras.Model(image, probs, name=name), r_ext


def build_fesgan(config, channels=1, num_classes=7):
    """G_enc, G_dec, D_img and D_z for a `NETWORK_CONFIGS`-style dict (returned as a dict)."""
    size = config["image_size"]
    encoder, decoder = build_encoder_decoder(config, channels, num_classes)
    return {
        "encoder": encoder,
        "decoder": decoder,
        "image_critic": build_image_critic(
            size, channels, config["critic_widths"], config["critic_class_width"], num_classes
        ),
        "latent_critic": build_latent_critic(config["latent_dim"], config["latent_critic_widths"]),
    }


def build_encoder_decoder(config, channels=1, num_classes=7):
    """`(G_enc, G_dec)` of a `NETWORK_CONFIGS`-style dict, the identity path included when its
    `skip_connections` / `residual_output` are on (absent = off)."""
    size = config["image_size"]
    skip, residual = bool(config.get("skip_connections")), bool(config.get("residual_output"))
    encoder_widths, decoder_widths = tuple(config["encoder_widths"]), tuple(config["decoder_widths"])
    if skip and len(encoder_widths) != len(decoder_widths):
        raise ValueError(
            f"FESR skip_connections need as many encoder as decoder stages; got encoder_widths={encoder_widths}, "
            f"decoder_widths={decoder_widths}."
        )
    encoder = build_encoder(size, channels, encoder_widths, config["latent_dim"], skip_connections=skip,
                            residual_output=residual)
    decoder = build_decoder(
        size, channels, decoder_widths, config["latent_dim"], num_classes,
        output_init_stddev=config.get("output_init_stddev"),
        # G_enc's maps above 4 x 4, coarse to fine: its widths but the last, reversed.
        skip_widths=tuple(reversed(encoder_widths[:-1])) if skip else (), residual_output=residual,
    )
    return encoder, decoder


def network_config(config="small", **overrides):
    """A copy of `NETWORK_CONFIGS[config]` (or of a dict) with `overrides` applied and checked.

    `decoder_widths` is trimmed or extended (halving) to match `image_size` when only
    `image_size` is overridden, so `network_config("small", image_size=16)` just works.
    """
    if isinstance(config, str):
        if config not in NETWORK_CONFIGS:
            raise ValueError(f"Unknown FESR config {config!r}: expected one of {sorted(NETWORK_CONFIGS)}.")
        config = NETWORK_CONFIGS[config]
    cfg = dict(config)
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"Unknown FESR network option(s) {sorted(unknown)}; expected some of {sorted(cfg)}.")
    cfg.update(overrides)
    size = cfg["image_size"]
    _check_power_of_two(size, 16, "network_config")
    n_dec = int(math.log2(size // 4))
    widths = list(cfg["decoder_widths"])
    if "decoder_widths" not in overrides:
        # Drop the widest layers for smaller images, or prepend doubled ones for larger.
        while len(widths) > n_dec:
            widths.pop(0)
        while len(widths) < n_dec:
            widths.insert(0, widths[0] * 2)
    cfg["decoder_widths"] = tuple(widths)
    n_enc = int(math.log2(size // 4))
    if "encoder_widths" not in overrides and len(cfg["encoder_widths"]) > n_enc:
        cfg["encoder_widths"] = tuple(cfg["encoder_widths"][:n_enc])
    if "critic_widths" not in overrides and len(cfg["critic_widths"]) > n_enc - 1:
        cfg["critic_widths"] = tuple(cfg["critic_widths"][: n_enc - 1])
    return cfg
