"""GASCA networks: shallow adversarial autoencoders G^k / discriminators D^k, their stacks, and
the CNN1 / CNN2a / CNN2b expression classifiers initialised from the trained encoder.

Layer k of the stack:

* encoder `encoder_k`: `ConvMLP` (k = 1..K-1, kernels 5x5, 3x3, 3x3, 100 shifting units in the
  paper) or `HalfConv` (k = K, the layer whose target pose is alpha = 0);
* decoder `decoder_k`: transposed convolutions / convolutions only, mapping code k back to the
  shape of code k-1 (the image for k = 1);
* discriminator features `disc_features_k`: code k-1 -> a map of code k's shape, so the
  features of D^1..D^K stack like the encoders; `disc_head_k`: flatten + one logit.

The stacked generator is `encoder_1 .. encoder_K, decoder_K .. decoder_1` (Algorithm 1,
`G <- G^k o G`); the stacked discriminator is `disc_features_1 .. disc_features_K, disc_head_K`.
All builders return named functional `keras.Model`s whose sub-models are shared, so training a
stack trains the shallow networks it was stacked from.

Reference:
    Ruiz-Garcia et al., "Generative Adversarial Stacked Autoencoders for Facial Pose
    Normalization and Emotion Recognition", IJCNN 2020, sections III-V and VII.
"""

import keras

from fer_zoo.layers import ConvMLP, HalfConv
from fer_zoo.layers.mirror import flip_averaged

# Builder keyword arguments of a GASCA network (the `model` part of a training config and the
# `config` of a preset).
DEFAULT_MODEL_CONFIG = {
    "image_size": (32, 32),
    "channels": 1,
    "filters": (8, 16, 16, 16),
    "kernel_sizes": (5, 3, 3, 3),
    "shifting_units": 64,
    "first_layer_strides": 1,
    "g_init_scale": 0.5,
    "d_init_scale": 1.0,
    "init_mode": "fan_avg",
    "num_classes": 7,
    "dropout": 0.0,
    # Ablations (docs/gasca.md, "Ablations"): "conv" replaces the ConvMLP encoder layers by a
    # convolution + fixed average pooling to the same code grid (no learned shifting matrix);
    # "conv" at the frontal layer replaces HalfConv by a full "same" convolution.
    "encoder_layer": "convmlp",
    "frontal_layer": "halfconv",
    # Classifiers only (not in the paper): batch normalisation after each encoder layer's ReLU.
    # CNN2a under-fits FER2013 + KDEF; with it the network trains further (56 vs 51 % training
    # accuracy) and reads full profiles better (docs/gasca.md, "Batch normalisation after each
    # encoder layer"); the `gasca2` preset uses it. The encoder layers themselves are unchanged,
    # so GASCA pre-trained weights still load into them.
    "classifier_batch_norm": False,
}

ENCODER_LAYERS = ("convmlp", "conv")
FRONTAL_LAYERS = ("halfconv", "conv")

# The paper's sizes: 3 ConvMLP layers (5x5, 3x3, 3x3, 100 shifting units) + 1 HalfConv layer.
# The paper does not give its image size or filter counts; 80 px makes the 10x10 grid of 100
# shifting units decode back with three stride-2 transposed convolutions.
PAPER_MODEL_CONFIG = {
    **DEFAULT_MODEL_CONFIG,
    "image_size": (80, 80),
    "filters": (32, 64, 64, 64),
    "shifting_units": 100,
}


def model_config(**overrides):
    """`DEFAULT_MODEL_CONFIG` updated with `overrides`, checked, sizes as tuples."""
    unknown = set(overrides) - set(DEFAULT_MODEL_CONFIG)
    if unknown:
        raise ValueError(
            f"Unknown GASCA model argument(s) {sorted(unknown)}; expected {sorted(DEFAULT_MODEL_CONFIG)}."
        )
    config = {**DEFAULT_MODEL_CONFIG, **overrides}
    size = config["image_size"]
    config["image_size"] = (size, size) if isinstance(size, int) else tuple(size)
    config["filters"] = tuple(config["filters"])
    config["kernel_sizes"] = tuple(config["kernel_sizes"])
    depth = len(config["filters"])
    if depth < 2:
        raise ValueError(f"GASCA needs at least 2 layers (ConvMLP + HalfConv), got filters={config['filters']}.")
    if len(config["kernel_sizes"]) != depth:
        raise ValueError(
            f"GASCA: kernel_sizes {config['kernel_sizes']} must have one entry per layer "
            f"(filters has {depth})."
        )
    units = config["shifting_units"]
    units = (units,) * (depth - 1) if isinstance(units, int) else tuple(units)
    if len(units) != depth - 1:
        raise ValueError(
            f"GASCA: shifting_units {units} needs one entry per ConvMLP layer ({depth - 1})."
        )
    config["shifting_units"] = units
    if config["encoder_layer"] not in ENCODER_LAYERS:
        raise ValueError(f"GASCA: encoder_layer={config['encoder_layer']!r}; expected one of {ENCODER_LAYERS}.")
    if config["frontal_layer"] not in FRONTAL_LAYERS:
        raise ValueError(f"GASCA: frontal_layer={config['frontal_layer']!r}; expected one of {FRONTAL_LAYERS}.")
    return config


def _grid(units):
    side = int(round(units**0.5))
    if side * side != units:
        raise ValueError(f"GASCA: shifting_units={units} must be a perfect square (a square code grid).")
    return (side, side)


def code_shapes(config):
    """Shapes `(H, W, C)` of the image (index 0) and of codes 1..K."""
    config = model_config(**config)
    shapes = [(*config["image_size"], config["channels"])]
    for k, filters in enumerate(config["filters"]):
        grid = _grid(config["shifting_units"][k]) if k < len(config["shifting_units"]) else shapes[-1][:2]
        shapes.append((*grid, filters))
    return shapes


def _g_init(config):
    # Algorithm 2, line 2: V(W_g) = 1 / (N_in + N_out), i.e. fan_avg scaling with scale 0.5.
    # (That shrinks the signal through four ReLU layers; init_mode="fan_in", scale 2 = He init.)
    return keras.initializers.VarianceScaling(config["g_init_scale"], config["init_mode"], "untruncated_normal")


def _d_init(config):
    # Algorithm 2, line 1: V(W_d) = 2 / (N_in + N_out) (Glorot normal).
    return keras.initializers.VarianceScaling(config["d_init_scale"], config["init_mode"], "untruncated_normal")


def _pool_factor(conv_hw, grid_hw):
    if any(c % g for c, g in zip(conv_hw, grid_hw)) or any(c < g for c, g in zip(conv_hw, grid_hw)):
        raise ValueError(
            f"GASCA encoder_layer='conv': the convolution output {tuple(conv_hw)} is not an integer "
            f"multiple of the code grid {tuple(grid_hw)}; choose shifting_units / first_layer_strides to fit."
        )
    return (conv_hw[0] // grid_hw[0], conv_hw[1] // grid_hw[1])


def build_encoder_layer(k, config):
    """Encoder of shallow autoencoder `k` (1-based): code k-1 -> code k."""
    config = model_config(**config)
    shapes = code_shapes(config)
    depth = len(config["filters"])
    inputs = keras.Input(shapes[k - 1], name=f"encoder_{k}_input")
    if k < depth and config["encoder_layer"] == "conv":
        # Ablation: the same convolution as the ConvMLP, then a fixed average pooling down to
        # the ConvMLP's code grid instead of the learned shifting matrix, then ReLU.
        strides = config["first_layer_strides"] if k == 1 else 1
        x = keras.layers.Conv2D(
            config["filters"][k - 1], config["kernel_sizes"][k - 1], strides=strides, padding="same",
            kernel_initializer=_g_init(config), name=f"conv_{k}",
        )(inputs)
        pool = _pool_factor(x.shape[1:3], shapes[k][:2])
        if pool != (1, 1):
            x = keras.layers.AveragePooling2D(pool, name=f"conv_{k}_pool")(x)
        x = keras.layers.Activation("relu", name=f"conv_{k}_relu")(x)
    elif k < depth:
        x = ConvMLP(
            config["filters"][k - 1],
            config["kernel_sizes"][k - 1],
            shifting_units=config["shifting_units"][k - 1],
            strides=config["first_layer_strides"] if k == 1 else 1,
            kernel_initializer=_g_init(config),
            shifting_initializer=_g_init(config),
            name=f"conv_mlp_{k}",
        )(inputs)
    elif config["frontal_layer"] == "conv":
        # Ablation: a full convolution at the alpha = 0 layer (same kernel, twice the MACs,
        # no symmetry constraint).
        x = keras.layers.Conv2D(
            config["filters"][k - 1], config["kernel_sizes"][k - 1], padding="same", activation="relu",
            kernel_initializer=_g_init(config), name=f"frontal_conv_{k}",
        )(inputs)
    else:
        # The deepest layer has target pose alpha = 0: a frontal face is symmetric (section IV).
        x = HalfConv(
            config["filters"][k - 1],
            config["kernel_sizes"][k - 1],
            kernel_initializer=_g_init(config),
            name=f"half_conv_{k}",
        )(inputs)
    return keras.Model(inputs, x, name=f"encoder_{k}")


def _resize_by_convolutions(x, target_hw, filters, activation, initializer, prefix, dtype=None):
    """Transposed / plain convolutions only: stride-2 up-sampling while it fits, then one
    "valid" (transposed) convolution that lands exactly on `target_hw`."""
    height, width = x.shape[1], x.shape[2]
    step = 0
    while height * 2 <= target_hw[0] and width * 2 <= target_hw[1]:
        x = keras.layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", activation="relu",
            kernel_initializer=initializer, name=f"{prefix}_up{step}",
        )(x)
        height, width, step = height * 2, width * 2, step + 1
    grow = (target_hw[0] - height, target_hw[1] - width)
    if grow[0] >= 0 and grow[1] >= 0 and (grow[0] or grow[1]):
        x = keras.layers.Conv2DTranspose(
            filters, (grow[0] + 1, grow[1] + 1), padding="valid", activation="relu",
            kernel_initializer=initializer, name=f"{prefix}_fit",
        )(x)
    elif grow[0] < 0 or grow[1] < 0:
        if grow[0] > 0 or grow[1] > 0:
            raise ValueError(f"GASCA decoder cannot map {x.shape[1:3]} to {target_hw}.")
        x = keras.layers.Conv2D(
            filters, (1 - grow[0], 1 - grow[1]), padding="valid", activation="relu",
            kernel_initializer=initializer, name=f"{prefix}_fit",
        )(x)
    return keras.layers.Conv2D(
        target_hw[2], 3, padding="same", activation=activation,
        kernel_initializer=initializer, dtype=dtype, name=f"{prefix}_out",
    )(x)


def build_decoder_layer(k, config):
    """Decoder of shallow autoencoder `k`: code k -> code k-1 (the image for k = 1).

    The image decoder ends in `tanh` (images are in [-1, 1]) computed in float32; the code
    decoders end linearly (a ReLU output layer can die under the adversarial gradient and then
    never reconstructs the non-negative codes again, measured on KDEF).
    """
    config = model_config(**config)
    shapes = code_shapes(config)
    inputs = keras.Input(shapes[k], name=f"decoder_{k}_input")
    x = _resize_by_convolutions(
        inputs,
        shapes[k - 1],
        filters=config["filters"][k - 1],
        activation="tanh" if k == 1 else None,
        initializer=_g_init(config),
        prefix=f"decoder_{k}",
        dtype="float32" if k == 1 else None,
    )
    return keras.Model(inputs, x, name=f"decoder_{k}")


def build_discriminator_features(k, config):
    """Feature layer of discriminator D^k: code k-1 -> a map shaped like code k."""
    config = model_config(**config)
    shapes = code_shapes(config)
    depth = len(config["filters"])
    inputs = keras.Input(shapes[k - 1], name=f"disc_features_{k}_input")
    if k < depth:
        x = ConvMLP(
            config["filters"][k - 1],
            config["kernel_sizes"][k - 1],
            shifting_units=config["shifting_units"][k - 1],
            strides=2 if k == 1 else 1,
            activation="leaky_relu",
            kernel_initializer=_d_init(config),
            shifting_initializer=_d_init(config),
            name=f"disc_conv_mlp_{k}",
        )(inputs)
    else:
        x = keras.layers.Conv2D(
            config["filters"][k - 1], config["kernel_sizes"][k - 1], padding="same",
            activation="leaky_relu", kernel_initializer=_d_init(config), name=f"disc_conv_{k}",
        )(inputs)
    return keras.Model(inputs, x, name=f"disc_features_{k}")


def build_discriminator_head(k, config):
    """Head of discriminator D^k: features shaped like code k -> one real/fake logit (float32)."""
    config = model_config(**config)
    inputs = keras.Input(code_shapes(config)[k], name=f"disc_head_{k}_input")
    x = keras.layers.Flatten(name=f"disc_head_{k}_flatten")(inputs)
    logit = keras.layers.Dense(1, kernel_initializer=_d_init(config), dtype="float32", name=f"disc_head_{k}_logit")(x)
    return keras.Model(inputs, logit, name=f"disc_head_{k}")


class GASCANetworks:
    """All sub-networks of one GASCA model, built once and shared by every stage.

    Args:
        **config: model arguments (see `DEFAULT_MODEL_CONFIG`): `image_size`, `channels`,
            `filters` (one per layer; the last layer is the HalfConv), `kernel_sizes`,
            `shifting_units` (int or one per ConvMLP layer; perfect squares),
            `first_layer_strides`, `g_init_scale`, `d_init_scale`, `num_classes`, `dropout`,
            and the ablation switches `encoder_layer` (`"convmlp"` or `"conv"`: convolution +
            average pooling to the same code grid) and `frontal_layer` (`"halfconv"` or `"conv"`).

    Example:
    ```python
    nets = GASCANetworks(image_size=32, filters=(8, 16, 16, 16), shifting_units=64)
    g2 = nets.shallow_autoencoder(2)       # code 1 -> code 1 through encoder_2 / decoder_2
    g = nets.stacked_generator(4)          # image -> frontal image
    cnn = nets.classifier("cnn2a")         # encoder weights copied, softmax head
    ```

    Reference:
        Ruiz-Garcia et al., "Generative Adversarial Stacked Autoencoders for Facial Pose
        Normalization and Emotion Recognition", IJCNN 2020.
    """

    def __init__(self, **config):
        self.config = model_config(**config)
        self.depth = len(self.config["filters"])
        self.shapes = code_shapes(self.config)
        layers = range(1, self.depth + 1)
        self.encoders = [build_encoder_layer(k, self.config) for k in layers]
        self.decoders = [build_decoder_layer(k, self.config) for k in layers]
        self.disc_features = [build_discriminator_features(k, self.config) for k in layers]
        self.disc_heads = [build_discriminator_head(k, self.config) for k in layers]

    def shallow_autoencoder(self, k):
        """G^k: code k-1 -> code k -> code k-1."""
        inputs = keras.Input(self.shapes[k - 1], name=f"autoencoder_{k}_input")
        outputs = self.decoders[k - 1](self.encoders[k - 1](inputs))
        return keras.Model(inputs, outputs, name=f"autoencoder_{k}")

    def shallow_discriminator(self, k):
        """D^k: code k-1 -> logit."""
        inputs = keras.Input(self.shapes[k - 1], name=f"discriminator_{k}_input")
        outputs = self.disc_heads[k - 1](self.disc_features[k - 1](inputs))
        return keras.Model(inputs, outputs, name=f"discriminator_{k}")

    def stacked_encoder(self, depth=None, upto=None):
        """Image -> code `depth` through encoder_1..encoder_depth (`upto` is an alias)."""
        depth = depth or upto or self.depth
        inputs = keras.Input(self.shapes[0], name="image")
        x = inputs
        for encoder in self.encoders[:depth]:
            x = encoder(x)
        return keras.Model(inputs, x, name=f"stacked_encoder_{depth}")

    def stacked_generator(self, depth=None):
        """Stacked G of the first `depth` layers: encoder_1..encoder_depth, decoder_depth..decoder_1."""
        depth = depth or self.depth
        inputs = keras.Input(self.shapes[0], name="image")
        x = inputs
        for layer in self.generator_layers(depth):
            x = layer(x)
        return keras.Model(inputs, x, name=f"stacked_generator_{depth}")

    def generator_layers(self, depth=None):
        """The stacked G's layers in call order: encoder_1..encoder_depth, decoder_depth..decoder_1."""
        depth = depth or self.depth
        return self.encoders[:depth] + list(reversed(self.decoders[:depth]))

    def stacked_discriminator(self, depth=None):
        """Stacked D: disc_features_1..disc_features_depth, then disc_head_depth."""
        depth = depth or self.depth
        inputs = keras.Input(self.shapes[0], name="image")
        x = inputs
        for features in self.disc_features[:depth]:
            x = features(x)
        return keras.Model(inputs, self.disc_heads[depth - 1](x), name=f"stacked_discriminator_{depth}")

    def classifier(self, name="cnn2a"):
        """Expression classifier initialised from (a copy of) the trained encoder stack."""
        classifier = build_classifier(name=name, **self.config)
        for encoder in self.encoders:
            classifier.get_layer(encoder.name).set_weights(encoder.get_weights())
        return classifier


def build_classifier(name="cnn2a", flip_average=False, **config):
    """CNN1 / CNN2a / CNN2b: encoder_1..encoder_K, then the last (HalfConv) feature maps go
    straight to a softmax (flatten + dense, no hidden fully-connected layer, section VII).

    Args:
        name: model name (`"cnn1"`, `"cnn2a"`, `"cnn2b"`).
        flip_average: average the probabilities of each face and its mirror image (test-time
            augmentation inside the model, so exports and the Recognizer do it too). The same
            layers serve both passes, so the weights are those of the plain model: train with
            `False`, ship with `True` (the `gasca2` preset does; not in the paper).
        **config: GASCA model arguments (see `DEFAULT_MODEL_CONFIG`).

    Example:
    ```python
    classifier = build_classifier("cnn2a", image_size=48, channels=1, filters=(16, 32, 32, 32))
    probabilities = classifier.predict(faces)   # (N, 7)
    ```

    Reference:
        Ruiz-Garcia et al., "Generative Adversarial Stacked Autoencoders for Facial Pose
        Normalization and Emotion Recognition", IJCNN 2020.
    """
    config = model_config(**config)
    shapes = code_shapes(config)
    inputs = keras.Input(shapes[0], name="image")
    stack = []
    for k in range(1, len(config["filters"]) + 1):
        stack.append(build_encoder_layer(k, config))
        if config["classifier_batch_norm"]:
            stack.append(keras.layers.BatchNormalization(name=f"batch_norm_{k}"))
    stack.append(keras.layers.Flatten(name="flatten"))
    if config["dropout"]:
        stack.append(keras.layers.Dropout(config["dropout"], name="dropout"))
    stack.append(keras.layers.Dense(
        config["num_classes"], activation="softmax", dtype="float32", name="expression"
    ))

    def classify(x):
        for layer in stack:
            x = layer(x)
        return x

    outputs = flip_averaged(classify, inputs) if flip_average else classify(inputs)
    return keras.Model(inputs, outputs, name=name)


def build_normalizer(name="gasca2_normalizer", flip_average=False, **config):
    """The stacked generator G as a stand-alone pose/illumination normaliser: a face at up to
    +-60 degrees (or badly lit) in, a frontal evenly lit reconstruction out, both in [-1, 1].

    Its stacked encoder (`model.get_layer("encoder_K")` output) is the pose-invariant code.

    Args:
        name: model name.
        flip_average: also normalise the mirror image of each face and average G(x) with the
            mirror of G(mirror(x)) (the frontal face of a mirrored input is the mirrored frontal
            face): test-time averaging inside the model, so exports and the `Synthesizer` do it
            too. The same layers serve both passes, so the weights are those of the plain
            model (train with `False`). Not in the paper. With it, `encoder_K` is called twice
            (use a plain model to read the code).
        **config: GASCA model arguments (see `DEFAULT_MODEL_CONFIG`).

    Example:
    ```python
    normaliser = build_normalizer(image_size=64, channels=1, filters=(32, 64, 64, 64), flip_average=True)
    frontal = normaliser.predict(faces)   # (N, 64, 64, 1) in [-1, 1]
    ```
    """
    nets = GASCANetworks(**config)
    stack = nets.generator_layers()

    def normalise(x):
        for layer in stack:
            x = layer(x)
        return x

    inputs = keras.Input(nets.shapes[0], name="image")
    outputs = flip_averaged(normalise, inputs, mirror_outputs=True) if flip_average else normalise(inputs)
    return keras.Model(inputs, outputs, name=name)


def build_expression_critic(image_size=(64, 64), channels=1, num_classes=7, widths=(16, 32, 64, 96),
                            name="expression_critic"):
    """A small expression classifier that scores the normaliser's outputs during its stacked-G
    fine-tune (`expression_critic_weight`; not in the paper: JPEM's C_exp plays the same part).

    Strided convolutions with leaky ReLUs and no batch norm (so it behaves the same on a batch
    of generated faces as on real ones), global average pooling, softmax. Deliberately unlike
    the evaluation judge (`fer_zoo.evaluation.judge`: conv-BN-ReLU-maxpool), so a normaliser
    tuned against this critic is not tuned against the judge's particular features.

    Args:
        image_size: `(H, W)` or int, the normaliser's image size.
        channels: image channels.
        num_classes: expressions.
        widths: filters of the stride-2 convolutions.
        name: model name.
    """
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    inputs = keras.Input((*size, channels), name="image")
    x = inputs
    for i, width in enumerate(widths):
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", name=f"critic_conv{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"critic_act{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="critic_gap")(x)
    x = keras.layers.Dropout(0.2, name="critic_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="expression")(x)
    return keras.Model(inputs, outputs, name=name)
