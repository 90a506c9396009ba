"""JPEM networks: generator encoder/decoder, attribute and identity discriminators, classifier.

The paper (Zhang et al., CVPR 2018, sec. 4.2) only says the networks follow CAAE (Zhang, Song
and Qi, CVPR 2017): a generator without batch normalization whose encoder ends in a fully
connected identity code `f(x)`, a decoder of fractionally strided convolutions fed with
`[f(x), e, p]`, discriminators with batch normalization after every convolution, and a VGG-19
classifier. The layer sizes below are those of the authors' released TensorFlow code (CAAE
layout with one more stride-2 stage for 128 px inputs).

All networks are functional `keras.Model`s made of built-in Keras layers plus `fer_zoo.layers`
(`TileCode`), so they save and load with `safe_mode=True`.
"""

import keras

from fer_zoo.layers import TileCode

# Network sizes. "paper": 128 px, full widths (the released code's config). "small": CPU-sized
# networks of the same structure for 32 px faces (tests, demos, the shipped KDEF preset).
NETWORK_CONFIGS = {
    "paper": {
        "image_size": 128,
        "encoder_filters": (64, 128, 256, 512, 1024),
        "decoder_filters": (512, 256, 128, 64, 32),
        "code_dim": 50,
        "att_filters": (16, 32, 64, 128),
        "att_dense_units": 1024,
        "identity_units": (64, 32, 16),
        "classifier_filters": (64, 128, 256, 512, 512),
        "classifier_convs": (2, 2, 4, 4, 4),
        "classifier_dense_units": (4096, 4096),
        "classifier_batch_norm": True,
        "classifier_dropout": 0.5,
        "init_stddev": 0.02,
    },
    "small": {
        "image_size": 32,
        "encoder_filters": (24, 48, 96),
        "decoder_filters": (48, 24, 12),
        "code_dim": 50,
        "att_filters": (16, 32, 64),
        "att_dense_units": 64,
        "identity_units": (64, 32, 16),
        # Narrow early blocks: at 64 px the first two blocks carried most of the step's FLOPs.
        "classifier_filters": (8, 16, 32, 64, 64),
        "classifier_convs": (2, 2, 4, 4, 4),
        "classifier_dense_units": (128, 128),
        "classifier_batch_norm": True,
        "classifier_dropout": 0.2,
        "init_stddev": 0.02,
    },
}
# SynthFER at 64 px grey (training config "synthfer64", the `jpem-generator-synthfer` gate):
# four stride-2 stages (64 -> 4 px) each way. The decoder stays narrow at high resolution
# (its 5x5 transposed convolutions dominate a training step's FLOPs: ~52 M MACs per stage
# and image, ~210 M in all, against ~40 M for the encoder); a 64-d code (SynthFER draws ~45 grey-visible identity parameters).
# He-normal initialisation: see `normal_initializer`.
NETWORK_CONFIGS["synthfer64"] = {
    **NETWORK_CONFIGS["small"],
    "image_size": 64,
    "encoder_filters": (32, 64, 128, 256),
    "decoder_filters": (128, 64, 32, 16),
    "dense_filters": 256,
    "code_dim": 64,
    "att_filters": (16, 32, 64, 128),
    "att_dense_units": 128,
    "init_stddev": None,
    # The tanh image layer: N(0, 0.02) starts G at a smooth near-grey image that still
    # depends on the input and the codes (He there starts from pixel noise, TV ~1 per pixel).
    "output_init_stddev": 0.02,
}


def normal_initializer(stddev=0.02, seed=None):
    """The paper's initialiser N(0, stddev) (0.02 in the paper); `None` gives He-normal.

    "small" and "paper" use the paper's 0.02. In the narrow "small" networks it starts the
    generator near a constant grey image (small activations); it then learns the faces as long
    as the adversarial and classification terms are weak at first (see `JPEMRecipe` weights).
    He-normal everywhere started our SynthFER/KDEF runs from high-frequency noise (per-pixel TV
    ~1) that the L1 term removed more slowly. "synthfer64" uses He-normal for every layer but
    G's tanh image layer, which keeps N(0, 0.02) (`build_decoder(output_init_stddev=0.02)`):
    measured on those networks at initialisation, N(0, 0.02) everywhere gives an output spread
    across inputs of 9e-7 and relative gradients |grad| / |w| of 1e-7..1e-6 in the encoder
    (3e-3 in the image layer); He everywhere 0.076 and 3e-3..2e-2 but TV 1.06 per pixel; the
    mix 0.0066 and 7e-5..7e-4 with TV 0.065 (docs/jpem.md).
    """
    if stddev is None:
        return keras.initializers.HeNormal(seed=seed)
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev, seed=seed)


def code_repeat(code_dim, num_classes):
    """How many times a one-hot code of `num_classes` is repeated so that it is about as long as
    the `code_dim` identity code (CAAE: `duplicate = num_z_channels / num_categories`); without
    this the few label units are drowned by the 50 identity units in the first dense layer."""
    return max(1, int(round(code_dim / num_classes)))


def _check_size(image_size, stages, name):
    if image_size % (2**stages):
        raise ValueError(
            f"{name}: image_size={image_size} must be divisible by 2**{stages}={2**stages} "
            f"(one halving per stride-2 stage)."
        )


def build_encoder(
    image_size=32,
    channels=1,
    encoder_filters=(32, 64, 128),
    code_dim=50,
    kernel_size=5,
    init_stddev=0.02,
    name="jpem_encoder",
):
    """G_enc: image in [-1, 1] -> identity code f(x) in (-1, 1)^code_dim.

    Stride-2 5x5 convolutions with ReLU and no batch normalization, then a fully connected
    tanh layer (tanh matches the uniform U(-1, 1) prior that D_i imposes).
    """
    _check_size(image_size, len(encoder_filters), "build_encoder")
    images = keras.Input((image_size, image_size, channels), name="image")
    x = images
    for i, filters in enumerate(encoder_filters):
        x = keras.layers.Conv2D(
            filters, kernel_size, strides=2, padding="same", activation="relu",
            kernel_initializer=normal_initializer(init_stddev), name=f"conv{i + 1}",
        )(x)
    x = keras.layers.Flatten(name="flatten")(x)
    code = keras.layers.Dense(
        code_dim, activation="tanh", kernel_initializer=normal_initializer(init_stddev),
        name="identity_code", dtype="float32",
    )(x)
    return keras.Model(images, code, name=name)


def build_decoder(
    image_size=32,
    channels=1,
    code_dim=50,
    num_expressions=7,
    num_poses=5,
    decoder_filters=(64, 32, 16),
    dense_filters=None,
    kernel_size=5,
    init_stddev=0.02,
    repeat_codes=True,
    output_init_stddev="same",
    name="jpem_decoder",
):
    """G_dec: [f(x), expression one-hot, pose one-hot] -> image in [-1, 1].

    The one-hot codes are repeated `code_repeat(code_dim, K)` times (CAAE) and concatenated
    with f(x); a dense layer makes a `(image_size / 2**n, ...)` map that `n` stride-2
    fractionally strided 5x5 convolutions (ReLU) upsample to the image size; a final stride-1
    transposed convolution gives the tanh image. `output_init_stddev` initialises that last
    layer (`"same"`: as the others; a number: N(0, it); None: He-normal).
    """
    stages = len(decoder_filters)
    _check_size(image_size, stages, "build_decoder")
    mini = image_size // 2**stages
    dense_filters = dense_filters or 2 * decoder_filters[0]
    init = normal_initializer(init_stddev)
    code = keras.Input((code_dim,), name="identity_code")
    expression = keras.Input((num_expressions,), name="expression")
    pose = keras.Input((num_poses,), name="pose")
    parts = [code]
    for label, k, label_name in ((expression, num_expressions, "expression"), (pose, num_poses, "pose")):
        r = code_repeat(code_dim, k) if repeat_codes else 1
        parts.append(label if r == 1 else keras.layers.Concatenate(name=f"repeat_{label_name}")([label] * r))
    x = keras.layers.Concatenate(name="code_and_labels")(parts)
    x = keras.layers.Dense(mini * mini * dense_filters, activation="relu", kernel_initializer=init, name="fc")(x)
    x = keras.layers.Reshape((mini, mini, dense_filters), name="reshape")(x)
    for i, filters in enumerate(decoder_filters):
        x = keras.layers.Conv2DTranspose(
            filters, kernel_size, strides=2, padding="same", activation="relu",
            kernel_initializer=init, name=f"fconv{i + 1}",
        )(x)
    output_init = init if output_init_stddev == "same" else normal_initializer(output_init_stddev)
    image = keras.layers.Conv2DTranspose(
        channels, kernel_size, strides=1, padding="same", activation="tanh",
        kernel_initializer=output_init, name="image", dtype="float32",
    )(x)
    return keras.Model([code, expression, pose], image, name=name)


def build_generator(encoder, decoder, name="jpem_generator"):
    """G as one functional model: [image, expression one-hot, pose one-hot] -> image."""
    image = keras.Input(encoder.input_shape[1:], name="image")
    expression = keras.Input(decoder.input[1].shape[1:], name="expression")
    pose = keras.Input(decoder.input[2].shape[1:], name="pose")
    return keras.Model([image, expression, pose], decoder([encoder(image), expression, pose]), name=name)


def build_att_discriminator(
    image_size=32,
    channels=1,
    num_expressions=7,
    num_poses=5,
    att_filters=(16, 32, 64),
    att_dense_units=64,
    kernel_size=5,
    label_repeat=1,
    init_stddev=0.02,
    name="jpem_att_discriminator",
):
    """D_att: (image, expression one-hot, pose one-hot) -> real/fake logit.

    Stride-2 5x5 convolutions with batch normalization and leaky ReLU (CAAE's D_img); the
    expression and pose codes are tiled over the feature maps of the first convolution and
    concatenated to them, so every later layer judges the image *given* its attributes (eq. 3).
    """
    _check_size(image_size, len(att_filters), "build_att_discriminator")
    init = normal_initializer(init_stddev)
    images = keras.Input((image_size, image_size, channels), name="image")
    expression = keras.Input((num_expressions,), name="expression")
    pose = keras.Input((num_poses,), name="pose")
    x = images
    for i, filters in enumerate(att_filters):
        x = keras.layers.Conv2D(filters, kernel_size, strides=2, padding="same", kernel_initializer=init, name=f"conv{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i + 1}")(x)
        if i == 0:
            labels = keras.layers.Concatenate(name="labels")([expression, pose])
            x = TileCode(repeat=label_repeat, name="tile_labels")([x, labels])
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(att_dense_units, kernel_initializer=init, name="fc")(x)
    x = keras.layers.LeakyReLU(0.2, name="fc_lrelu")(x)
    logit = keras.layers.Dense(1, kernel_initializer=init, name="logit", dtype="float32")(x)
    return keras.Model([images, expression, pose], logit, name=name)


def build_identity_discriminator(code_dim=50, identity_units=(64, 32, 16), init_stddev=0.02, name="jpem_identity_discriminator"):
    """D_i: identity code -> logit of "drawn from the prior U(-1, 1)^code_dim" (eq. 4).

    Dense layers with batch normalization and ReLU (CAAE's D_z: 64-32-16-1).
    """
    init = normal_initializer(init_stddev)
    code = keras.Input((code_dim,), name="identity_code")
    x = code
    for i, units in enumerate(identity_units):
        x = keras.layers.Dense(units, kernel_initializer=init, name=f"fc{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = keras.layers.ReLU(name=f"relu{i + 1}")(x)
    logit = keras.layers.Dense(1, kernel_initializer=init, name="logit", dtype="float32")(x)
    return keras.Model(code, logit, name=name)


def _vgg19_keras_backbone(x, channels, weights):
    """keras.applications.VGG19 convolutional base with weights read from a local file."""
    import os

    if weights is None or not os.path.isfile(str(weights)):
        raise FileNotFoundError(
            f"build_classifier(backbone='vgg19-keras'): backbone_weights={weights!r} is not a file. "
            "Pass the path of a local VGG19 'notop' .h5 weights file (fer_zoo never downloads)."
        )
    if channels == 1:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    # [-1, 1] RGB -> caffe-style BGR minus ImageNet mean, the input VGG19's weights expect, as a
    # frozen 1x1 convolution (no Lambda layer, so the model still loads with safe_mode=True).
    x = keras.layers.Rescaling(127.5, offset=127.5, name="to_0_255")(x)
    x = keras.layers.Conv2D(3, 1, trainable=False, name="rgb_to_bgr_minus_mean")(x)
    base = keras.applications.VGG19(include_top=False, weights=str(weights), input_shape=tuple(x.shape[1:]))
    return x, base


def build_classifier(
    image_size=32,
    channels=1,
    num_expressions=7,
    num_poses=None,
    classifier_filters=(16, 32, 64, 64, 64),
    classifier_convs=(2, 2, 4, 4, 4),
    classifier_dense_units=(128, 128),
    dropout=0.5,
    batch_norm=True,
    backbone="vgg",
    backbone_weights=None,
    init_stddev=None,
    name="jpem_classifier",
):
    """C_exp: VGG-19-style expression classifier (softmax probabilities).

    Five blocks of 3x3 convolutions (2, 2, 4, 4, 4 per block in VGG-19) with ReLU, each followed
    by 2x2 max pooling, then dense layers with dropout and an expression softmax head; with
    `num_poses` an extra pose softmax head is added and the outputs become a dict
    `{"expression": ..., "pose": ...}`. `backbone="vgg19-keras"` uses
    `keras.applications.VGG19` with `weights=backbone_weights` (a local file; never downloaded).

    `init_stddev=None` (default) uses He-normal initialisation: the paper's N(0, 0.02) shrinks
    the signal variance by `fan_in * 0.02**2 / 2` (about 0.03 for 16 input maps) per layer, so a
    16-layer VGG without batch normalization starts with vanishing activations and does not
    train; pass `init_stddev=0.02` to use it anyway. `batch_norm=True` (default) adds batch
    normalization after each convolution (VGG-19-BN): trained from scratch on a few thousand
    faces, plain VGG-19 stays at chance for several epochs (the paper does not say whether its
    VGG-19 was ImageNet-initialised); `batch_norm=False` gives the plain VGG-19 layout.
    """
    init = normal_initializer(init_stddev)
    images = keras.Input((image_size, image_size, channels), name="image")
    if backbone == "vgg":
        if len(classifier_filters) != len(classifier_convs):
            raise ValueError(
                f"build_classifier: classifier_filters {classifier_filters} and classifier_convs "
                f"{classifier_convs} must have the same length (one entry per block)."
            )
        x = images
        for b, (filters, convs) in enumerate(zip(classifier_filters, classifier_convs)):
            for c in range(convs):
                x = keras.layers.Conv2D(
                    filters, 3, padding="same", activation=None if batch_norm else "relu",
                    kernel_initializer=init, name=f"block{b + 1}_conv{c + 1}",
                )(x)
                if batch_norm:
                    x = keras.layers.BatchNormalization(name=f"block{b + 1}_bn{c + 1}")(x)
                    x = keras.layers.ReLU(name=f"block{b + 1}_relu{c + 1}")(x)
            if x.shape[1] >= 2:
                x = keras.layers.MaxPooling2D(2, name=f"block{b + 1}_pool")(x)
    elif backbone == "vgg19-keras":
        x, base = _vgg19_keras_backbone(images, channels, backbone_weights)
        x = base(x)
    else:
        raise ValueError(f"build_classifier: backbone must be 'vgg' or 'vgg19-keras', got {backbone!r}.")
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(classifier_dense_units):
        x = keras.layers.Dense(units, activation="relu", kernel_initializer=init, name=f"fc{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    expression = keras.layers.Dense(num_expressions, activation="softmax", name="expression", dtype="float32")(x)
    if not num_poses:
        model = keras.Model(images, expression, name=name)
    else:
        pose = keras.layers.Dense(num_poses, activation="softmax", name="pose", dtype="float32")(x)
        model = keras.Model(images, {"expression": expression, "pose": pose}, name=name)
    if backbone == "vgg19-keras":
        import numpy as np

        # Rows = input channel (R, G, B), columns = output channel (B, G, R).
        perm = np.zeros((1, 1, 3, 3), "float32")
        perm[0, 0, 2, 0] = perm[0, 0, 1, 1] = perm[0, 0, 0, 2] = 1.0
        mean_bgr = np.array([103.939, 116.779, 123.68], "float32")
        model.get_layer("rgb_to_bgr_minus_mean").set_weights([perm, -mean_bgr])
    return model


def build_networks(
    config="small",
    channels=1,
    num_expressions=7,
    num_poses=5,
    image_size=None,
    classifier_pose_head=False,
    **overrides,
):
    """All five JPEM networks for a named size config (`NETWORK_CONFIGS`), with overrides.

    Returns:
        dict with `encoder`, `decoder`, `att_discriminator`, `identity_discriminator`,
        `classifier`.
    """
    if config not in NETWORK_CONFIGS:
        raise ValueError(f"Unknown JPEM network config {config!r}; expected one of {sorted(NETWORK_CONFIGS)}.")
    cfg = {**NETWORK_CONFIGS[config], **overrides}
    unknown = set(overrides) - set(NETWORK_CONFIGS[config]) - {
        "classifier_init_stddev", "backbone", "backbone_weights", "dense_filters", "output_init_stddev"
    }
    if unknown:
        raise TypeError(f"build_networks: unknown override(s) {sorted(unknown)}.")
    if image_size is not None:
        cfg["image_size"] = image_size
    size = cfg["image_size"]
    init_stddev = cfg["init_stddev"]
    common = {"image_size": size, "channels": channels}
    return {
        "encoder": build_encoder(
            **common, encoder_filters=cfg["encoder_filters"], code_dim=cfg["code_dim"], init_stddev=init_stddev
        ),
        "decoder": build_decoder(
            **common, code_dim=cfg["code_dim"], num_expressions=num_expressions, num_poses=num_poses,
            decoder_filters=cfg["decoder_filters"], dense_filters=cfg.get("dense_filters"), init_stddev=init_stddev,
            output_init_stddev=cfg.get("output_init_stddev", "same"),
        ),
        "att_discriminator": build_att_discriminator(
            **common, num_expressions=num_expressions, num_poses=num_poses, att_filters=cfg["att_filters"],
            att_dense_units=cfg["att_dense_units"], init_stddev=init_stddev,
        ),
        "identity_discriminator": build_identity_discriminator(
            code_dim=cfg["code_dim"], identity_units=cfg["identity_units"], init_stddev=init_stddev
        ),
        "classifier": build_classifier(
            **common, num_expressions=num_expressions, num_poses=num_poses if classifier_pose_head else None,
            classifier_filters=cfg["classifier_filters"], classifier_convs=cfg["classifier_convs"],
            classifier_dense_units=cfg["classifier_dense_units"], dropout=cfg["classifier_dropout"],
            batch_norm=cfg["classifier_batch_norm"],
            backbone=cfg.get("backbone", "vgg"), backbone_weights=cfg.get("backbone_weights"),
            init_stddev=cfg.get("classifier_init_stddev"),
        ),
    }


def classifier_config(config="small", channels=1, num_expressions=7, image_size=None, **overrides):
    """`build_classifier` keyword arguments for a named size config (what presets store)."""
    cfg = {**NETWORK_CONFIGS[config], **overrides}
    return {
        "image_size": image_size or cfg["image_size"],
        "channels": channels,
        "num_expressions": num_expressions,
        "classifier_filters": list(cfg["classifier_filters"]),
        "classifier_convs": list(cfg["classifier_convs"]),
        "classifier_dense_units": list(cfg["classifier_dense_units"]),
        "dropout": cfg["classifier_dropout"],
        "batch_norm": cfg["classifier_batch_norm"],
    }



def build_generator_from_config(
    image_size=32,
    channels=1,
    num_expressions=7,
    num_poses=5,
    encoder_filters=(32, 64, 128),
    decoder_filters=(64, 32, 16),
    code_dim=50,
    dense_filters=None,
    name="jpem_generator",
):
    """The deployable generator G (`build_generator`) from plain keyword arguments (presets);
    `dense_filters`: channels of the decoder's first 4x4 map (`NETWORK_CONFIGS["synthfer64"]`)."""
    encoder = build_encoder(image_size, channels, tuple(encoder_filters), code_dim)
    decoder = build_decoder(
        image_size, channels, code_dim, num_expressions, num_poses, tuple(decoder_filters),
        dense_filters=dense_filters,
    )
    return build_generator(encoder, decoder, name=name)
