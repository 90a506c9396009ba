import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_zoo.layers.conv_mlp import ConvMLP
from fer_zoo.testing import TestCase


def conv_params(kernel, channels, filters):
    return kernel * kernel * channels * filters + filters


class ConvMLPTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            ConvMLP,
            init_kwargs={"filters": 4, "kernel_size": 3, "shifting_units": 16},
            input_data=np.random.rand(2, 8, 8, 3).astype("float32"),
            expected_output_shape=(2, 4, 4, 4),
            expected_num_trainable_weights=4,
            expected_num_params=conv_params(3, 3, 4) + 64 * 16 + 16,
        )

    def test_rectangular_grid_strides_and_valid_padding(self):
        layer = ConvMLP(
            filters=2,
            kernel_size=3,
            shifting_units=12,
            output_grid=(3, 4),
            strides=2,
            padding="valid",
        )
        outputs = layer(np.zeros((1, 9, 11, 1), "float32"))
        self.assertEqual(tuple(outputs.shape), (1, 3, 4, 2))
        # valid stride-2 conv on 9x11 -> 4x5 = 20 rows in the shifting matrix.
        self.assertEqual(tuple(layer.shifting_kernel.shape), (20, 12))

    def test_shifting_parameters_do_not_depend_on_filters(self):
        for filters in (1, 8, 32):
            layer = ConvMLP(filters=filters, kernel_size=5, shifting_units=100)
            layer.build((None, 16, 16, 3))
            shifting = layer.count_params() - conv_params(5, 3, filters)
            self.assertEqual(shifting, 16 * 16 * 100 + 100)

    def test_every_map_is_shifted_by_the_same_matrix(self):
        height = width = 6
        channels = 3
        layer = ConvMLP(
            filters=channels, kernel_size=1, shifting_units=height * width, activation=None
        )
        layer.build((None, height, width, channels))
        # 1x1 identity convolution, then a shifting matrix that moves every pixel 2 columns right.
        layer.kernel.assign(np.eye(channels, dtype="float32")[None, None])
        permutation = np.zeros((height * width, height * width), "float32")
        for row in range(height):
            for col in range(width):
                permutation[row * width + col, row * width + (col + 2) % width] = 1.0
        layer.shifting_kernel.assign(permutation)
        images = np.random.rand(2, height, width, channels).astype("float32")
        outputs = keras.ops.convert_to_numpy(layer(images))
        self.assertAllClose(outputs, np.roll(images, 2, axis=2))

    def test_learns_to_move_a_pixel_beyond_the_kernel(self):
        # A bright pixel at (r, c) must appear at (r + 3, c + 3): 3x3 kernels alone cannot do it.
        size = 8
        images, targets = [], []
        for row in range(size - 3):
            for col in range(size - 3):
                image = np.zeros((size, size, 1), "float32")
                image[row, col] = 1.0
                target = np.zeros((size, size, 1), "float32")
                target[row + 3, col + 3] = 1.0
                images.append(image)
                targets.append(target)
        images, targets = np.stack(images), np.stack(targets)

        def final_loss(layer):
            keras.utils.set_random_seed(1)
            model = keras.Sequential([keras.Input((size, size, 1)), layer])
            optimizer = keras.optimizers.Adam(0.02)

            @tf.function
            def step():
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean((model(images) - targets) ** 2)
                grads = tape.gradient(loss, model.trainable_weights)
                optimizer.apply(grads, model.trainable_weights)
                return loss

            losses = [float(step()) for _ in range(200)]
            hits = np.argmax(model(images).numpy().reshape(len(images), -1), axis=1)
            accuracy = np.mean(hits == np.argmax(targets.reshape(len(targets), -1), axis=1))
            return losses[0], losses[-1], accuracy

        # Linear outputs: with a single map, ReLU units that start negative would stay dead.
        start, end, accuracy = final_loss(
            ConvMLP(1, 3, shifting_units=size * size, activation=None)
        )
        _, conv_only, conv_accuracy = final_loss(keras.layers.Conv2D(1, 3, padding="same"))
        self.assertLess(end, 1e-3 * start)
        self.assertEqual(accuracy, 1.0)
        self.assertLess(end, 1e-3 * conv_only)
        self.assertLess(conv_accuracy, 0.5)

    def test_export(self):
        inputs = keras.Input((8, 8, 1))
        model = keras.Model(inputs, ConvMLP(2, 3, shifting_units=16)(inputs))
        self.run_export_test(model, np.random.rand(2, 8, 8, 1).astype("float32"))

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="perfect square"):
            ConvMLP(4, 3, shifting_units=50)
        with pytest.raises(ValueError, match="shifting_units=50"):
            ConvMLP(4, 3, shifting_units=50, output_grid=(5, 5))
        with pytest.raises(ValueError, match="padding"):
            ConvMLP(4, 3, padding="causal")
        with pytest.raises(ValueError, match="static height"):
            ConvMLP(4, 3, shifting_units=16).build((None, None, None, 3))
