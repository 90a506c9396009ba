"""The general-purpose expression classifier: a compact VGG-style network with batch norm.

Not from one of the four papers: it is the zoo's default reader of expressions on photos of
people nobody trained on, trained on FER2013 (in-the-wild crops) plus KDEF (studio, three poses).
The design follows what works on FER2013 at 48 px (stacked 3x3 convolutions with batch norm,
max pooling, global average pooling, dropout) at widths that train for tens of epochs on a
2-core CPU.
"""

import keras
from keras import layers


def _conv_block(x, filters, convs, dropout, name):
    for i in range(convs):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i + 1}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i + 1}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i + 1}")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    if dropout:
        x = layers.SpatialDropout2D(dropout, name=f"{name}_drop")(x)
    return x


def build_general_classifier(
    input_size=48,
    channels=1,
    widths=(32, 64, 128, 256),
    convs_per_block=2,
    block_dropout=0.1,
    dense_units=256,
    dropout=0.4,
    num_classes=7,
    name="fer_general",
):
    """Builds the general-purpose classifier (functional `keras.Model`).

    Args:
        input_size: int or `(height, width)` of the face crops.
        channels: 1 (grey) or 3.
        widths: filters of each block; every block halves the resolution.
        convs_per_block: 3x3 conv + batch norm + ReLU layers per block.
        block_dropout: spatial dropout after each block's pooling (0 to disable).
        dense_units: width of the hidden dense layer after global average pooling.
        dropout: dropout before the classifier.
        num_classes: number of expression classes.
        name: model name.

    Returns:
        `keras.Model` mapping `(N, H, W, channels)` faces in [-1, 1] to class probabilities
        (float32 even under a mixed-precision policy).

    Example:
    ```python
    model = build_general_classifier(input_size=48, channels=1)
    probabilities = model.predict(faces)   # (N, 7)
    ```
    """
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    inputs = keras.Input((*input_size, channels), name="faces")
    x = inputs
    for index, filters in enumerate(widths):
        x = _conv_block(x, int(filters), int(convs_per_block), block_dropout, f"block{index + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dense_units:
        x = layers.Dense(int(dense_units), use_bias=False, name="dense")(x)
        x = layers.BatchNormalization(name="dense_bn")(x)
        x = layers.Activation("relu", name="dense_relu")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(int(num_classes), name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)
