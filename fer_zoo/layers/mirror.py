"""Mirror an image batch left-right (deterministic, unlike `keras.layers.RandomFlip`)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fer_zoo")
class MirrorImage(keras.layers.Layer):
    """Flips `(batch, H, W, C)` images left-right, in training and inference alike.

    `keras.layers.RandomFlip` is an augmentation: it flips at random and only while training.
    Test-time averaging over a face and its mirror image needs the mirror always, inside the
    model so that an exported SavedModel / TFLite file does the same as `model.predict`.

    Args:
        **kwargs: forwarded to `keras.layers.Layer`.

    Example:
    ```python
    x = np.arange(6, dtype="float32").reshape(1, 1, 6, 1)
    MirrorImage()(x)[0, 0, :, 0]   # [5, 4, 3, 2, 1, 0]
    ```
    """

    def call(self, inputs):
        return ops.flip(inputs, axis=-2)

    def compute_output_shape(self, input_shape):
        return input_shape


def flip_averaged(classify, inputs, name="flip_average", mirror_outputs=False):
    """Probabilities of each face averaged with those of its mirror image (or, with
    `mirror_outputs`, an image-to-image model's output averaged with the mirror of its output
    on the mirror image).

    Args:
        classify: a callable applying the classifier's layers to a symbolic tensor; it is called
            twice (on `inputs` and on their mirror image), so both passes share the weights.
        inputs: the model's `keras.Input`.
        name: name of the averaging layer.
        mirror_outputs: mirror the second pass's output back (layer `mirror_back`) before
            averaging: for models whose output is an image aligned with the input.

    Returns:
        The averaged output tensor (float32 even under a mixed-precision policy).

    Example:
    ```python
    inputs = keras.Input((48, 48, 1))
    head = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(7, activation="softmax")])
    model = keras.Model(inputs, flip_averaged(head, inputs))
    ```
    """
    outputs = classify(inputs)
    mirrored = classify(MirrorImage(name="mirror")(inputs))
    if mirror_outputs:
        mirrored = MirrorImage(name="mirror_back")(mirrored)
    return keras.layers.Average(dtype="float32", name=name)([outputs, mirrored])
