"""Light CNN-29 (v2) in Keras, its PyTorch-checkpoint converter, and the identity-network fallback.

FESR uses Light CNN-29 twice: as the identity feature extractor F_id of the identity-preserving
loss (eq. 12) and, frozen, as the first part of the recognizer's R_ext (Table II: "Conv1-Pool3
from Light CNN-29"). The public pretrained weights (LightCNN_29Layers_V2_checkpoint.pth.tar,
from github.com/AlfredXiangWu/LightCNN) cannot be downloaded here, so:

* `convert_lightcnn_state_dict` maps a state dict (dict of numpy arrays, PyTorch key names) onto
  the Keras model — a pure function, testable without torch; `load_lightcnn_checkpoint` reads
  the `.pth.tar` with `torch.load(weights_only=True)` when torch happens to be installed.
* otherwise the recipe trains the same architecture (narrower for CPU) as an identity
  classifier on the identities it has (SynthFER identities, KDEF subjects) and uses that; the
  training summary says which source was used (`identity_network`).

Architecture (LightCNN_29Layers_v2, 128 x 128 grey input in [0, 1]):
conv1 = mfm(1, 48, 5) -> pool1 -> block1 (1 resblock) -> group1 (mfm 1x1, mfm(48, 96, 3)) ->
pool2 -> block2 (2) -> group2 (96 -> 192) -> pool3 -> block3 (3) -> group3 (192 -> 128) ->
block4 (4) -> group4 (128 -> 128) -> pool4 -> fc (8*8*128 -> 256) [-> fc2 (256 -> classes)].
Every pool is `max_pool(2) + avg_pool(2)`; an mfm convolution has twice the output channels and
keeps the element-wise maximum of the two halves.
"""

import keras
import numpy as np
from keras import layers

from fer_zoo.layers import MaxFeatureMap

# Channel widths of LightCNN_29Layers_v2 and its residual blocks per stage.
LIGHTCNN29_V2_WIDTHS = (48, 96, 192, 128, 128)
LIGHTCNN29_V2_BLOCKS = (1, 2, 3, 4)
LIGHTCNN29_V2_CLASSES = 80013  # MS-Celeb-1M identities of the released v2 checkpoint
TRUNK_OUTPUT = "pool3"  # FESR freezes Conv1..Pool3 (Table II)


def _mfm_conv(x, filters, kernel_size, name):
    x = layers.Conv2D(2 * filters, kernel_size, padding="same", name=f"{name}_filter")(x)
    return MaxFeatureMap(name=f"{name}_mfm")(x)


def _pool(x, name):
    # Light CNN's pooling is max_pool + avg_pool (2 x 2, stride 2).
    max_pooled = layers.MaxPooling2D(2, name=f"{name}_max")(x)
    avg_pooled = layers.AveragePooling2D(2, name=f"{name}_avg")(x)
    return layers.Add(name=name)([max_pooled, avg_pooled])


def _stage(x, blocks, in_width, out_width, index):
    for b in range(blocks):
        residual = x
        y = _mfm_conv(x, in_width, 3, f"block{index}_{b}_conv1")
        y = _mfm_conv(y, in_width, 3, f"block{index}_{b}_conv2")
        x = layers.Add(name=f"block{index}_{b}_add")([y, residual])
    x = _mfm_conv(x, in_width, 1, f"group{index}_conv_a")
    return _mfm_conv(x, out_width, 3, f"group{index}_conv")


def build_light_cnn29(
    input_size=128,
    channels=1,
    widths=LIGHTCNN29_V2_WIDTHS,
    blocks=LIGHTCNN29_V2_BLOCKS,
    embedding_dim=256,
    num_classes=None,
    name="light_cnn29",
):
    """Light CNN-29 v2 as a functional model with a fer_zoo input adapter.

    The model takes fer_zoo images (`(H, W, channels)` in [-1, 1]); an adapter converts RGB to
    grey with fixed ITU-R 601 weights (a frozen 1x1 convolution) and rescales to [0, 1], the
    input the released checkpoint was trained on. Outputs a dict with `"embedding"` (the 256-d
    `fc` feature used for identity) and, when `num_classes` is set, `"logits"` (`fc2`, no bias).

    Args:
        input_size: int, image height = width; a multiple of 16 (four poolings).
        channels: 1 or 3.
        widths: the five mfm widths (conv1, group1..group4); the paper's are `(48, 96, 192,
            128, 128)`, smaller ones give a CPU-sized network of the same structure.
        blocks: residual blocks before group1..group4 (`(1, 2, 3, 4)` = 29 layers).
        embedding_dim: width of `fc`.
        num_classes: identities of the `fc2` classifier, or `None` for no classifier.
        name: model name.

    Example:
    ```python
    net = build_light_cnn29(input_size=32, widths=(8, 16, 24, 16, 16), num_classes=20)
    out = net(np.zeros((2, 32, 32, 1), "float32"))  # {"embedding": (2, 256), "logits": (2, 20)}
    ```

    Reference:
        Wu et al., "A Light CNN for Deep Face Representation with Noisy Labels", IEEE TIFS 2018;
        used by Yan et al., "Joint Deep Learning of Facial Expression Synthesis and
        Recognition", IEEE TMM 2020 (eq. 12, Table II).
    """
    if input_size % 16 or input_size < 16:
        raise ValueError(f"build_light_cnn29: input_size must be a multiple of 16, got {input_size!r}.")
    if channels not in (1, 3):
        raise ValueError(f"build_light_cnn29: channels must be 1 or 3, got {channels!r}.")
    if len(widths) != 5 or len(blocks) != 4:
        raise ValueError(f"build_light_cnn29: need 5 widths and 4 block counts, got {widths}, {blocks}.")
    image = keras.Input((input_size, input_size, channels), name="image")
    x = image
    if channels == 3:
        grey = np.array([0.299, 0.587, 0.114], "float32").reshape(1, 1, 3, 1)
        x = layers.Conv2D(
            1, 1, use_bias=False, trainable=False,
            kernel_initializer=keras.initializers.Constant(grey), name="to_grey",
        )(x)
    x = layers.Rescaling(0.5, offset=0.5, name="to_unit_range")(x)
    x = _mfm_conv(x, widths[0], 5, "conv1")
    x = _pool(x, "pool1")
    x = _stage(x, blocks[0], widths[0], widths[1], 1)
    x = _pool(x, "pool2")
    x = _stage(x, blocks[1], widths[1], widths[2], 2)
    x = _pool(x, "pool3")
    x = _stage(x, blocks[2], widths[2], widths[3], 3)
    x = _stage(x, blocks[3], widths[3], widths[4], 4)
    x = _pool(x, "pool4")
    x = layers.Flatten(name="flatten")(x)
    embedding = layers.Dense(embedding_dim, dtype="float32", name="fc")(x)
    outputs = {"embedding": embedding}
    if num_classes:
        dropped = layers.Dropout(0.5, name="fc_dropout")(embedding)
        outputs["logits"] = layers.Dense(num_classes, use_bias=False, dtype="float32", name="fc2")(dropped)
    return keras.Model(image, outputs, name=name)


def light_cnn_trunk(light_cnn, output_layer=TRUNK_OUTPUT, trainable=False):
    """The `input .. output_layer` part of a built Light CNN (shares its weights), frozen by default."""
    trunk = keras.Model(light_cnn.input, light_cnn.get_layer(output_layer).output, name="light_cnn_trunk")
    trunk.trainable = trainable
    return trunk


def light_cnn_embedder(light_cnn, trainable=False):
    """`image -> embedding` model sharing `light_cnn`'s weights (F_id of eq. 12), frozen by default."""
    embedder = keras.Model(light_cnn.input, light_cnn.output["embedding"], name="f_id")
    embedder.trainable = trainable
    return embedder


def _torch_key_to_layer(key):
    """`module.block2.1.conv1.filter.weight` -> (`block2_1_conv1_filter`, `weight`)."""
    if key.startswith("module."):
        key = key[len("module."):]
    *path, param = key.split(".")
    return "_".join(path), param


def convert_lightcnn_state_dict(state_dict, model, strict=True):
    """Copy a LightCNN_29Layers_v2 PyTorch state dict onto a `build_light_cnn29` model.

    A pure mapping (no torch needed): conv kernels `(out, in, kh, kw)` -> `(kh, kw, in, out)`,
    linear weights `(out, in)` -> `(in, out)`, and the `fc` weight's input axis reordered from
    PyTorch's `(C, H, W)` flattening to Keras' `(H, W, C)`. A `module.` prefix (DataParallel) is
    ignored. With `strict`, every key must be used and every mapped layer filled.

    Args:
        state_dict: dict of PyTorch key name -> numpy array (or anything `np.asarray` accepts).
        model: a `build_light_cnn29` model whose widths match the checkpoint.
        strict: raise on unused keys / unfilled layers (`fc2` may be absent from the model).

    Returns:
        The list of layer names that were filled.
    """
    grouped = {}
    for key, value in state_dict.items():
        layer_name, param = _torch_key_to_layer(key)
        grouped.setdefault(layer_name, {})[param] = np.asarray(value, dtype="float32")
    model_layers = {layer.name: layer for layer in model.layers}
    filled, unused = [], []
    for layer_name, params in grouped.items():
        if layer_name not in model_layers:
            if layer_name == "fc2" and not strict:
                continue
            unused.append(layer_name)
            continue
        layer = model_layers[layer_name]
        weight = params.get("weight")
        if weight is None:
            raise ValueError(f"convert_lightcnn_state_dict: no weight for {layer_name!r} in the state dict.")
        if weight.ndim == 4:
            kernel = weight.transpose(2, 3, 1, 0)
        elif layer_name == "fc":
            # torch flattens (C, H, W); Keras flattens (H, W, C).
            flat_shape = model.get_layer("flatten").input.shape[1:]
            h, w, c = (int(d) for d in flat_shape)
            kernel = weight.reshape(weight.shape[0], c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
        else:
            kernel = weight.T
        values = [kernel] + ([params["bias"]] if "bias" in params else [])
        expected = [tuple(v.shape) for v in layer.get_weights()]
        got = [tuple(v.shape) for v in values]
        if expected != got:
            raise ValueError(
                f"convert_lightcnn_state_dict: layer {layer_name!r} expects weights {expected}, the "
                f"state dict gives {got} (mismatched widths or input_size?)."
            )
        layer.set_weights(values)
        filled.append(layer_name)
    if strict:
        if unused and set(unused) != {"fc2"}:
            raise ValueError(f"convert_lightcnn_state_dict: state dict keys for unknown layers {sorted(unused)}.")
        expected_layers = {
            layer.name for layer in model.layers
            if layer.weights and layer.trainable and layer.name not in ("to_grey",)
        }
        missing = expected_layers - set(filled)
        if missing:
            raise ValueError(f"convert_lightcnn_state_dict: no weights in the state dict for {sorted(missing)}.")
    return filled


def export_lightcnn_state_dict(model):
    """The inverse of `convert_lightcnn_state_dict`: PyTorch-named numpy arrays of `model`."""
    state = {}
    flat_shape = model.get_layer("flatten").input.shape[1:]
    h, w, c = (int(d) for d in flat_shape)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights or layer.name == "to_grey":
            continue
        key = _layer_to_torch_prefix(layer.name)
        kernel = weights[0]
        if kernel.ndim == 4:
            state[f"{key}.weight"] = kernel.transpose(3, 2, 0, 1)
        elif layer.name == "fc":
            state[f"{key}.weight"] = kernel.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(kernel.shape[1], -1)
        else:
            state[f"{key}.weight"] = kernel.T
        if len(weights) > 1:
            state[f"{key}.bias"] = weights[1]
    return state


def _layer_to_torch_prefix(layer_name):
    # block2_1_conv1_filter -> block2.1.conv1.filter; group1_conv_a_filter -> group1.conv_a.filter
    parts = layer_name.split("_")
    out, i = [], 0
    while i < len(parts):
        if parts[i] == "conv" and i + 1 < len(parts) and parts[i + 1] == "a":
            out.append("conv_a")
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return ".".join(out)


def load_lightcnn_checkpoint(path, model):
    """Load the released `LightCNN_29Layers_V2_checkpoint.pth.tar` into `model` (needs torch).

    torch is not a fer_zoo dependency; the file is read with `weights_only=True` (no pickle code
    execution). Returns the filled layer names.
    """
    try:
        import torch  # noqa: PLC0415 (optional dependency)
    except ImportError as error:
        raise ImportError(
            f"load_lightcnn_checkpoint({str(path)!r}) needs PyTorch to read .pth files; install torch "
            "or use the identity-network fallback (FESR trains its own identity net)."
        ) from error
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    arrays = {k: v.detach().cpu().numpy() for k, v in state.items()}
    return convert_lightcnn_state_dict(arrays, model, strict=False)
