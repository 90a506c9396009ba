"""The general-purpose expression classifier: a compact VGG-style network with batch norm.

Not from one of the four papers: it is the zoo's default reader of expressions on photos of
people nobody trained on, trained on FER2013 (in-the-wild crops) plus KDEF (studio, three poses).
The design follows what works on FER2013 at 48 px (stacked 3x3 convolutions with batch norm,
max pooling, global average pooling, dropout) at widths that train for tens of epochs on a
2-core CPU.
"""

import keras
from keras import layers

from fer_zoo.layers.mirror import flip_averaged


def _conv_block(filters, convs, dropout, name):
    block = []
    for i in range(convs):
        block += [layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i + 1}"),
                  layers.BatchNormalization(name=f"{name}_bn{i + 1}"),
                  layers.Activation("relu", name=f"{name}_relu{i + 1}")]
    block.append(layers.MaxPooling2D(2, name=f"{name}_pool"))
    if dropout:
        block.append(layers.SpatialDropout2D(dropout, name=f"{name}_drop"))
    return block


def build_general_classifier(
    input_size=48,
    channels=1,
    widths=(32, 64, 128, 256),
    convs_per_block=2,
    block_dropout=0.1,
    dense_units=256,
    dropout=0.4,
    num_classes=7,
    flip_average=False,
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
        flip_average: average the probabilities of each face and its mirror image (test-time
            augmentation inside the model, so exports do it too). The same layers serve both
            passes, so the weights are those of the plain model: train with `False`, ship with
            `True` (the `fer-general` preset does).
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
    stack = []
    for index, filters in enumerate(widths):
        stack += _conv_block(int(filters), int(convs_per_block), block_dropout, f"block{index + 1}")
    stack.append(layers.GlobalAveragePooling2D(name="pool"))
    if dense_units:
        stack += [layers.Dense(int(dense_units), use_bias=False, name="dense"),
                  layers.BatchNormalization(name="dense_bn"),
                  layers.Activation("relu", name="dense_relu")]
    if dropout:
        stack.append(layers.Dropout(dropout, name="dropout"))
    stack += [layers.Dense(int(num_classes), name="logits"),
              layers.Activation("softmax", dtype="float32", name="probabilities")]

    def classify(x):
        for layer in stack:
            x = layer(x)
        return x

    outputs = flip_averaged(classify, inputs) if flip_average else classify(inputs)
    return keras.Model(inputs, outputs, name=name)
