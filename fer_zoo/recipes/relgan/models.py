"""REL-GAN networks (section 4.1 of the paper) as functional `keras.Model`s.

* `expression_encoder` (G_es) and `identity_encoder` (G_et): five down-sampling blocks of a
  3x3 stride-1 convolution (64, 128, 256, 512, 512 channels) followed by 2x2 average pooling,
  then one FC layer: f(e) is 30-d, f(i) is 50-d.
* `decoder` (G_de): `[f(e), f(i)]` -> FC -> five up-sampling blocks (nearest up-sampling + 3x3
  stride-1 convolution; 512, 256, 128, 64, 32 channels) -> image (tanh, [-1, 1]).
* `discriminator` (D): four conv blocks (16, 32, 64, 128) and a shared 1024-d FC layer, then two
  branches of FC 512 and 256: D_e with `N_e + 1` logits (expressions + "fake", the fake class is
  the last index `N_e`) and D_i with `N_i` identity logits.
* `relgan_classifier`: the frozen G_es + an MLP on f(e) (stage two of the paper), one model.
* `cnn_baseline`: the G_es architecture + one FC classification layer, trained end to end.

`CONFIGS["paper"]` is the paper's 96 px network; `CONFIGS["small"]` keeps the structure (five
blocks, 30/50-d codes, two-branch D) with narrow layers so it trains on a CPU.
`CONFIGS["synthfer64"]` (the SynthFER reenactment generator, docs/relgan.md) keeps G_es -> f(e)
30-d, G_et -> f(i) 50-d, G_de, but down-/up-samples with stride-2 (transposed) convolutions,
four stages 64 -> 4 px, no normalisation, He-normal init with a N(0, 0.02) tanh image layer, and a
bounded (tanh) f(e) with Gaussian noise in training (an information bottleneck on f(e)).
"""

import keras

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.layers.normalization import InstanceNormalization

# Network hyper-parameters shared by the builders (train.py adds the training ones).
NETWORK_CONFIGS = {
    "paper": {
        "image_size": 96,
        "channels": 3,
        "encoder_filters": (64, 128, 256, 512, 512),
        "decoder_filters": (512, 256, 128, 64, 32),
        "discriminator_filters": (16, 32, 64, 128),
        "discriminator_units": (1024, 512, 256),
        "expression_dim": 30,
        "identity_dim": 50,
        "mlp_units": (256,),
        "norm": "instance",
    },
    "small": {
        "image_size": 32,
        "channels": 1,
        "encoder_filters": (8, 16, 32, 64, 64),
        "decoder_filters": (64, 32, 16, 8, 8),
        "discriminator_filters": (8, 16, 32, 64),
        "discriminator_units": (128, 64, 32),
        "expression_dim": 30,
        "identity_dim": 50,
        "mlp_units": (64,),
        "norm": "instance",
    },
}
# Options of the 64 px SynthFER generator; the defaults keep the paper's network.
_PAPER_OPTIONS = {
    "downsample": "pool",  # "pool": 3x3 stride-1 conv + 2x2 average pooling (paper); "strided"
    "blocks": 5,  # down-/up-sampling blocks (the paper's 5)
    "kernel_init": None,  # None: Keras' default (Glorot uniform); "he": He-normal
    "output_init_stddev": None,  # N(0, stddev) for G_de's tanh image layer (None: kernel_init)
    "expression_activation": None,  # None: linear f(e) (paper); "tanh": bounded f(e)
    "expression_noise": 0.0,  # std of Gaussian noise added to f(e) in training only
    # None: f(e) = activation(Dense(h)); "layer": activation(LayerNorm(Dense(h))), a parameter-free
    # per-face normalisation of the 30 pre-activations (zero mean, unit variance) that keeps a
    # bounded (tanh) code out of saturation (docs/relgan.md, "Why f(e) died").
    "expression_norm": None,
}
for _config in NETWORK_CONFIGS.values():
    _config.update(_PAPER_OPTIONS)
# SynthFER 64 px grey reenactment generator (training config "synthfer64", docs/relgan.md). The
# collapse of "small" at 32 px: its 5th block instance-normalises a 2x2 map and pools it to 1x1,
# i.e. every channel of the code's input is (almost) its constant bias. Here: stride-2 4x4
# convolutions 64 -> 32 -> 16 -> 8 -> 4 px (a 4x4x256 map feeds the code), no normalisation.
NETWORK_CONFIGS["synthfer64"] = {
    **NETWORK_CONFIGS["small"],
    "image_size": 64,
    "channels": 1,
    "encoder_filters": (32, 64, 128, 256),
    "decoder_filters": (128, 64, 32, 16),
    "discriminator_filters": (16, 32, 64, 128),
    "discriminator_units": (256, 128, 64),
    "expression_dim": 30,
    "identity_dim": 50,
    "norm": None,
    "downsample": "strided",
    "blocks": 4,
    "kernel_init": "he",
    "output_init_stddev": 0.02,
    "expression_activation": "tanh",
    "expression_noise": 0.2,
}

NUM_EXPRESSIONS = len(EXPRESSIONS)
NUM_BLOCKS = 5  # the paper's five down-/up-sampling blocks: image side must divide by 2**5


def _check_image_size(image_size, blocks=NUM_BLOCKS):
    if not isinstance(image_size, int) or image_size < 2**blocks or image_size % 2**blocks:
        raise ValueError(
            f"image_size={image_size!r}: REL-GAN's {blocks} down-sampling blocks need a multiple of "
            f"{2**blocks} (e.g. 32, 64, 96)."
        )


def _initializer(kernel_init, stddev=None):
    if stddev is not None:
        return keras.initializers.RandomNormal(0.0, stddev)
    if kernel_init in (None, "glorot_uniform"):
        return "glorot_uniform"
    if kernel_init == "he":
        return keras.initializers.HeNormal()
    raise ValueError(f"kernel_init={kernel_init!r}: expected None or 'he'.")


def _check_filters(filters, count, argument):
    if len(filters) != count:
        raise ValueError(f"{argument} needs {count} entries (one per block), got {tuple(filters)}.")


def _normalization(norm, name):
    if norm == "instance":
        return InstanceNormalization(name=name)
    if norm == "batch":
        return keras.layers.BatchNormalization(name=name)
    if norm in (None, "none"):
        return None
    raise ValueError(f"norm={norm!r}: expected 'instance', 'batch' or None.")


def _conv_block(x, filters, norm, name, activation, strides=1, transpose=False, kernel_init=None):
    layer = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    size = 4 if strides == 2 else 3
    x = layer(filters, size, strides=strides, padding="same", kernel_initializer=_initializer(kernel_init),
              name=f"{name}_conv")(x)
    norm_layer = _normalization(norm, f"{name}_norm")
    if norm_layer is not None:
        x = norm_layer(x)
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(0.2, name=f"{name}_act")(x)
    return keras.layers.Activation(activation, name=f"{name}_act")(x)


def _check_downsample(downsample):
    if downsample not in ("pool", "strided"):
        raise ValueError(f"downsample={downsample!r}: expected 'pool' or 'strided'.")


def _encoder(image_size, channels, encoder_filters, code_dim, norm, name, downsample="pool", blocks=NUM_BLOCKS,
             kernel_init=None, activation=None, noise=0.0, code_norm=None):
    _check_downsample(downsample)
    _check_image_size(image_size, blocks)
    _check_filters(encoder_filters, blocks, "encoder_filters")
    image = keras.Input((image_size, image_size, channels), name="image")
    x = image
    for i, filters in enumerate(encoder_filters):
        if downsample == "strided":
            x = _conv_block(x, filters, norm, f"down{i + 1}", "leaky_relu", strides=2, kernel_init=kernel_init)
        else:
            x = _conv_block(x, filters, norm, f"down{i + 1}", "leaky_relu", kernel_init=kernel_init)
            x = keras.layers.AveragePooling2D(2, name=f"down{i + 1}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if code_norm in (None, "none"):
        code = keras.layers.Dense(code_dim, activation=activation, kernel_initializer=_initializer(kernel_init),
                                  name="code")(x)
    elif code_norm == "layer":
        # No learned scale or shift: the code's pre-activations keep unit variance per face, so
        # a tanh code cannot drift into saturation (where its gradient, and G's use of the
        # source, vanish for good).
        code = keras.layers.Dense(code_dim, kernel_initializer=_initializer(kernel_init), name="code")(x)
        code = keras.layers.LayerNormalization(center=False, scale=False, name="code_norm")(code)
        code = keras.layers.Activation(activation or "linear", name="code_act")(code)
    else:
        raise ValueError(f"expression_norm={code_norm!r}: expected None or 'layer'.")
    if noise:
        # Training only (inactive at inference): limits what f(e) can carry (an information
        # bottleneck), so the few expression bits win over identity detail.
        code = keras.layers.GaussianNoise(float(noise), name="code_noise")(code)
    return keras.Model(image, code, name=name)


def expression_encoder(
    image_size=96,
    channels=3,
    encoder_filters=(64, 128, 256, 512, 512),
    expression_dim=30,
    norm="instance",
    name="expression_encoder",
    downsample="pool",
    blocks=NUM_BLOCKS,
    kernel_init=None,
    expression_activation=None,
    expression_noise=0.0,
    expression_norm=None,
    **kwargs,
):
    """G_es: face image -> expression code f(e) (`expression_dim`-d, linear).

    Args:
        image_size: side of the square input; a multiple of 32.
        channels: 1 (grey) or 3 (RGB).
        encoder_filters: channels of the five 3x3 stride-1 convolution blocks.
        expression_dim: size of f(e) (30 in the paper).
        norm: `"instance"`, `"batch"` or `None`, after every convolution.
        name: model name.
        downsample: "pool" (3x3 stride-1 conv + 2x2 average pooling, the paper) or "strided"
            (4x4 stride-2 conv).
        blocks: number of down-sampling blocks (5 in the paper).
        kernel_init: None (Keras' default) or "he".
        expression_activation: None (linear f(e), the paper) or e.g. "tanh".
        expression_noise: std of Gaussian noise on f(e) in training (0: none).
        expression_norm: None, or "layer": a parameter-free layer normalisation of the code's
            pre-activations (before `expression_activation`).
        **kwargs: ignored (lets one config dict drive every builder).

    Example:
    ```python
    g_es = expression_encoder(image_size=32, channels=1, encoder_filters=(8, 16, 32, 64, 64))
    codes = g_es(images)  # (N, 30)
    ```

    Reference:
        REL-GAN, "Reenactment-based Expression-Representation Learning", section 4.1.
    """
    return _encoder(image_size, channels, encoder_filters, expression_dim, norm, name, downsample, blocks,
                    kernel_init, expression_activation, expression_noise, expression_norm)


def identity_encoder(
    image_size=96,
    channels=3,
    encoder_filters=(64, 128, 256, 512, 512),
    identity_dim=50,
    norm="instance",
    name="identity_encoder",
    downsample="pool",
    blocks=NUM_BLOCKS,
    kernel_init=None,
    **kwargs,
):
    """G_et: face image -> identity code f(i) (`identity_dim`-d, linear); same body as G_es."""
    return _encoder(image_size, channels, encoder_filters, identity_dim, norm, name, downsample, blocks, kernel_init)


def decoder(
    image_size=96,
    channels=3,
    decoder_filters=(512, 256, 128, 64, 32),
    expression_dim=30,
    identity_dim=50,
    norm="instance",
    name="decoder",
    downsample="pool",
    blocks=NUM_BLOCKS,
    kernel_init=None,
    output_init_stddev=None,
    **kwargs,
):
    """G_de: `[f(e), f(i)]` -> image in [-1, 1] through FC + `blocks` up-sampling blocks
    (nearest up-sampling + 3x3 conv, the paper; `downsample="strided"`: 4x4 stride-2 transposed
    convolutions, the FC layer then feeding a `2 * decoder_filters[0]`-channel map)."""
    _check_downsample(downsample)
    _check_image_size(image_size, blocks)
    _check_filters(decoder_filters, blocks, "decoder_filters")
    f_e = keras.Input((expression_dim,), name="expression_code")
    f_i = keras.Input((identity_dim,), name="identity_code")
    side = image_size // 2**blocks
    fc_filters = decoder_filters[0] * (2 if downsample == "strided" else 1)
    x = keras.layers.Concatenate(name="joint_code")([f_e, f_i])
    x = keras.layers.Dense(side * side * fc_filters, kernel_initializer=_initializer(kernel_init), name="fc")(x)
    x = keras.layers.LeakyReLU(0.2, name="fc_act")(x)
    x = keras.layers.Reshape((side, side, fc_filters), name="fc_reshape")(x)
    for i, filters in enumerate(decoder_filters):
        if downsample == "strided":
            x = _conv_block(x, filters, norm, f"up{i + 1}", "relu", strides=2, transpose=True, kernel_init=kernel_init)
        else:
            x = keras.layers.UpSampling2D(2, name=f"up{i + 1}_upsample")(x)
            x = _conv_block(x, filters, norm, f"up{i + 1}", "relu", kernel_init=kernel_init)
    # Output kept in float32 so mixed precision never rounds the image the pixel loss compares.
    image = keras.layers.Conv2D(
        channels, 3, padding="same", activation="tanh", dtype="float32",
        kernel_initializer=_initializer(kernel_init, output_init_stddev), name="image",
    )(x)
    return keras.Model([f_e, f_i], image, name=name)


def reenactment_generator(expression_encoder, identity_encoder, decoder, name="relgan_generator"):
    """The whole G as one functional model with named inputs: `{"target": x_t (gives the
    identity), "source": x_s (gives the expression)}` -> x̄ = G_de(G_es(x_s), G_et(x_t))
    (inference: f(e)'s training noise is off). Saved as `generator.keras` (safe_mode loadable)."""
    shape = tuple(expression_encoder.input.shape[1:])
    target = keras.Input(shape, name="target")
    source = keras.Input(shape, name="source")
    image = decoder([expression_encoder(source), identity_encoder(target)])
    return keras.Model({"target": target, "source": source}, image, name=name)


def discriminator(
    image_size=96,
    channels=3,
    num_expressions=NUM_EXPRESSIONS,
    num_identities=100,
    discriminator_filters=(16, 32, 64, 128),
    discriminator_units=(1024, 512, 256),
    name="discriminator",
    **kwargs,
):
    """D = [D_e, D_i]: image -> (expression logits `N_e + 1`, identity logits `N_i`).

    The last expression logit (index `num_expressions`) is the "fake" class of eq. (1).
    `discriminator_units = (shared, branch_1, branch_2)`.
    """
    if len(discriminator_filters) != 4:
        raise ValueError(f"discriminator_filters needs 4 entries, got {tuple(discriminator_filters)}.")
    if len(discriminator_units) != 3:
        raise ValueError(
            f"discriminator_units needs (shared, branch_1, branch_2), got {tuple(discriminator_units)}."
        )
    if num_identities < 1 or num_expressions < 1:
        raise ValueError(
            f"num_expressions={num_expressions}, num_identities={num_identities}: both must be >= 1."
        )
    image = keras.Input((image_size, image_size, channels), name="image")
    x = image
    for i, filters in enumerate(discriminator_filters):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", name=f"block{i + 1}_conv")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"block{i + 1}_act")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    shared_units, units_1, units_2 = discriminator_units
    shared = keras.layers.Dense(shared_units, activation="leaky_relu", name="shared_fc")(x)
    outputs = []
    for branch, n_out in (("expression", num_expressions + 1), ("identity", num_identities)):
        h = keras.layers.Dense(units_1, activation="leaky_relu", name=f"{branch}_fc1")(shared)
        h = keras.layers.Dense(units_2, activation="leaky_relu", name=f"{branch}_fc2")(h)
        outputs.append(keras.layers.Dense(n_out, dtype="float32", name=f"{branch}_logits")(h))
    return keras.Model(image, outputs, name=name)


def _mlp_head(code, mlp_units, num_classes, dropout):
    x = code
    for i, units in enumerate(mlp_units):
        x = keras.layers.Dense(units, activation="relu", name=f"mlp_fc{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"mlp_dropout{i + 1}")(x)
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="expression")(x)


# G_es options beyond the paper's arguments (`expression_encoder`); a classifier or baseline built
# from a network config passes them on, so its encoder is G_es's architecture.
ENCODER_OPTIONS = ("downsample", "blocks", "kernel_init", "expression_activation", "expression_noise",
                   "expression_norm")


def encoder_options(config):
    """The `ENCODER_OPTIONS` entries of a network config dict."""
    return {k: config[k] for k in ENCODER_OPTIONS if k in config}


def relgan_classifier(
    image_size=96,
    channels=3,
    num_classes=NUM_EXPRESSIONS,
    encoder_filters=(64, 128, 256, 512, 512),
    expression_dim=30,
    mlp_units=(256,),
    dropout=0.3,
    norm="instance",
    encoder=None,
    name="relgan_classifier",
    **kwargs,
):
    """REL-GAN's FER model: the frozen expression encoder G_es + an MLP on f(e).

    Stage two of the paper: G_es is detached from the trained REL-GAN and "all the filters of
    G_es are fixed"; only the MLP learns. Outputs class probabilities (softmax).

    Args:
        image_size, channels, encoder_filters, expression_dim, norm: G_es's architecture
            (ignored when `encoder` is given).
        num_classes: number of expression classes.
        mlp_units: hidden layer sizes of the MLP.
        dropout: dropout after each hidden layer (0 disables).
        encoder: a trained G_es to reuse (its layers are shared, and frozen).
        name: model name.
        **kwargs: G_es's `ENCODER_OPTIONS` (`downsample`, `blocks`, ...) when `encoder` is None;
            other keys are ignored (one config dict drives every builder).

    Example:
    ```python
    clf = relgan_classifier(encoder=recipe.expression_encoder, num_classes=7)
    probs = clf(images)  # (N, 7)
    ```

    Reference:
        REL-GAN (Reenactment-based Expression-Representation Learning), sections 3.2 and 4.1.
    """
    if encoder is None:
        encoder = expression_encoder(image_size, channels, encoder_filters, expression_dim, norm,
                                     **encoder_options(kwargs))
    encoder.trainable = False
    image = keras.Input(encoder.input.shape[1:], name="image")
    # training=False: a frozen G_es also keeps any normalisation statistics fixed.
    code = encoder(image, training=False)
    return keras.Model(image, _mlp_head(code, mlp_units, num_classes, dropout), name=name)


def cnn_baseline(
    image_size=96,
    channels=3,
    num_classes=NUM_EXPRESSIONS,
    encoder_filters=(64, 128, 256, 512, 512),
    expression_dim=30,
    norm="instance",
    name="cnn_baseline",
    **kwargs,
):
    """The paper's CNN baseline: the G_es architecture + one FC layer, trained end to end.

    `kwargs` may hold the rest of a network config (`ENCODER_OPTIONS`: `downsample`, `blocks`,
    ...): they shape the encoder exactly as G_es's, so the baseline has the architecture of the
    recipe's classifier trunk; other keys are ignored."""
    encoder = expression_encoder(image_size, channels, encoder_filters, expression_dim, norm,
                                 **encoder_options(kwargs))
    image = keras.Input(encoder.input.shape[1:], name="image")
    probs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="expression")(
        encoder(image)
    )
    return keras.Model(image, probs, name=name)
