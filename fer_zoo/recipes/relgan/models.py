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

NUM_EXPRESSIONS = len(EXPRESSIONS)
NUM_BLOCKS = 5  # the paper's five down-/up-sampling blocks: image side must divide by 2**5


def _check_image_size(image_size):
    if not isinstance(image_size, int) or image_size < 2**NUM_BLOCKS or image_size % 2**NUM_BLOCKS:
        raise ValueError(
            f"image_size={image_size!r}: REL-GAN's five pooling blocks need a multiple of "
            f"{2**NUM_BLOCKS} (e.g. 32, 64, 96)."
        )


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


def _conv_block(x, filters, norm, name, activation):
    x = keras.layers.Conv2D(filters, 3, strides=1, padding="same", name=f"{name}_conv")(x)
    norm_layer = _normalization(norm, f"{name}_norm")
    if norm_layer is not None:
        x = norm_layer(x)
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(0.2, name=f"{name}_act")(x)
    return keras.layers.Activation(activation, name=f"{name}_act")(x)


def _encoder(image_size, channels, encoder_filters, code_dim, norm, name):
    _check_image_size(image_size)
    _check_filters(encoder_filters, NUM_BLOCKS, "encoder_filters")
    image = keras.Input((image_size, image_size, channels), name="image")
    x = image
    for i, filters in enumerate(encoder_filters):
        x = _conv_block(x, filters, norm, f"down{i + 1}", "leaky_relu")
        x = keras.layers.AveragePooling2D(2, name=f"down{i + 1}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    code = keras.layers.Dense(code_dim, name="code")(x)
    return keras.Model(image, code, name=name)


def expression_encoder(
    image_size=96,
    channels=3,
    encoder_filters=(64, 128, 256, 512, 512),
    expression_dim=30,
    norm="instance",
    name="expression_encoder",
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
        **kwargs: ignored (lets one config dict drive every builder).

    Example:
    ```python
    g_es = expression_encoder(image_size=32, channels=1, encoder_filters=(8, 16, 32, 64, 64))
    codes = g_es(images)  # (N, 30)
    ```

    Reference:
        REL-GAN, "Reenactment-based Expression-Representation Learning", section 4.1.
    """
    return _encoder(image_size, channels, encoder_filters, expression_dim, norm, name)


def identity_encoder(
    image_size=96,
    channels=3,
    encoder_filters=(64, 128, 256, 512, 512),
    identity_dim=50,
    norm="instance",
    name="identity_encoder",
    **kwargs,
):
    """G_et: face image -> identity code f(i) (`identity_dim`-d); same body as G_es."""
    return _encoder(image_size, channels, encoder_filters, identity_dim, norm, name)


def decoder(
    image_size=96,
    channels=3,
    decoder_filters=(512, 256, 128, 64, 32),
    expression_dim=30,
    identity_dim=50,
    norm="instance",
    name="decoder",
    **kwargs,
):
    """G_de: `[f(e), f(i)]` -> image in [-1, 1] through FC + five up-sampling blocks."""
    _check_image_size(image_size)
    _check_filters(decoder_filters, NUM_BLOCKS, "decoder_filters")
    f_e = keras.Input((expression_dim,), name="expression_code")
    f_i = keras.Input((identity_dim,), name="identity_code")
    side = image_size // 2**NUM_BLOCKS
    x = keras.layers.Concatenate(name="joint_code")([f_e, f_i])
    x = keras.layers.Dense(side * side * decoder_filters[0], name="fc")(x)
    x = keras.layers.LeakyReLU(0.2, name="fc_act")(x)
    x = keras.layers.Reshape((side, side, decoder_filters[0]), name="fc_reshape")(x)
    for i, filters in enumerate(decoder_filters):
        x = keras.layers.UpSampling2D(2, name=f"up{i + 1}_upsample")(x)
        x = _conv_block(x, filters, norm, f"up{i + 1}", "relu")
    # Output kept in float32 so mixed precision never rounds the image the pixel loss compares.
    image = keras.layers.Conv2D(
        channels, 3, padding="same", activation="tanh", dtype="float32", name="image"
    )(x)
    return keras.Model([f_e, f_i], image, name=name)


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
        **kwargs: ignored (one config dict drives every builder).

    Example:
    ```python
    clf = relgan_classifier(encoder=recipe.expression_encoder, num_classes=7)
    probs = clf(images)  # (N, 7)
    ```

    Reference:
        REL-GAN (Reenactment-based Expression-Representation Learning), sections 3.2 and 4.1.
    """
    if encoder is None:
        encoder = expression_encoder(image_size, channels, encoder_filters, expression_dim, norm)
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
    """The paper's CNN baseline: the G_es architecture + one FC layer, trained end to end."""
    encoder = expression_encoder(image_size, channels, encoder_filters, expression_dim, norm)
    image = keras.Input(encoder.input.shape[1:], name="image")
    probs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="expression")(
        encoder(image)
    )
    return keras.Model(image, probs, name=name)
