import numpy as np

from fer_zoo.recipes.fesr import light_cnn
from fer_zoo.testing import TestCase


def lightcnn29_v2_state_dict_shapes(widths=(48, 96, 192, 128, 128), blocks=(1, 2, 3, 4), input_size=128, classes=None):
    """Key -> shape of a DataParallel-saved LightCNN_29Layers_v2 state dict, written from the
    PyTorch module definition (mfm(in, out, k) = Conv2d(in, 2 * out, k) + bias; resblock =
    mfm(c, c, 3) x 2; group(in, out) = mfm(in, in, 1), mfm(in, out, 3); fc = Linear(8*8*128, 256))."""
    shapes = {}

    def mfm(prefix, cin, cout, k):
        shapes[f"module.{prefix}.filter.weight"] = (2 * cout, cin, k, k)
        shapes[f"module.{prefix}.filter.bias"] = (2 * cout,)

    mfm("conv1", 1, widths[0], 5)
    for stage in range(4):
        cin, cout = widths[stage], widths[stage + 1]
        for b in range(blocks[stage]):
            mfm(f"block{stage + 1}.{b}.conv1", cin, cin, 3)
            mfm(f"block{stage + 1}.{b}.conv2", cin, cin, 3)
        mfm(f"group{stage + 1}.conv_a", cin, cin, 1)
        mfm(f"group{stage + 1}.conv", cin, cout, 3)
    side = input_size // 16
    shapes["module.fc.weight"] = (256, side * side * widths[4])
    shapes["module.fc.bias"] = (256,)
    if classes:
        shapes["module.fc2.weight"] = (classes, 256)
    return shapes


def fake_state_dict(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(0, 0.05, s).astype("float32") for k, s in shapes.items()}


class LightCNNTest(TestCase):
    def test_paper_architecture_matches_pytorch_parameter_count(self):
        model = light_cnn.build_light_cnn29(input_size=128)
        shapes = lightcnn29_v2_state_dict_shapes()
        expected = sum(int(np.prod(s)) for s in shapes.values())
        self.assertEqual(model.count_params(), expected)
        # The Light CNN paper gives 12.6 M for LightCNN-29 (v1), whose fc is an mfm with twice
        # the outputs; v2's plain Linear fc has 8192 * 256 fewer weights: ~10.5 M.
        self.assertEqual(expected, 10_475_872)
        self.assertBetween(expected + 8192 * 256 + 256, 12.5e6, 12.7e6)
        self.assertEqual(tuple(model.output["embedding"].shape), (None, 256))
        trunk = light_cnn.light_cnn_trunk(model)
        self.assertEqual(tuple(trunk.output.shape), (None, 16, 16, 192))  # Conv1..Pool3 at 128 px
        self.assertEqual(trunk.trainable_weights, [])

    def test_converter_round_trip_and_torch_flatten_order(self):
        widths, blocks, size = (4, 6, 8, 6, 6), (1, 2, 1, 1), 32
        model = light_cnn.build_light_cnn29(size, 1, widths, blocks, num_classes=5)
        shapes = lightcnn29_v2_state_dict_shapes(widths, blocks, size, classes=5)
        state = fake_state_dict(shapes)
        filled = light_cnn.convert_lightcnn_state_dict(state, model)
        self.assertIn("fc", filled)
        self.assertIn("group1_conv_a_filter", filled)
        exported = light_cnn.export_lightcnn_state_dict(model)
        self.assertEqual(set(exported), {k[len("module."):] for k in state})
        for key, value in state.items():
            self.assertAllClose(exported[key[len("module."):]], value)

        # fc must see PyTorch's (C, H, W) flattening: recompute it from the pool4 maps.
        x = np.random.default_rng(1).uniform(-1, 1, (2, size, size, 1)).astype("float32")
        import keras

        pool4 = keras.Model(model.input, model.get_layer("pool4").output)(x).numpy()
        torch_flat = pool4.transpose(0, 3, 1, 2).reshape(2, -1)
        expected = torch_flat @ state["module.fc.weight"].T + state["module.fc.bias"]
        self.assertAllClose(model(x)["embedding"], expected, atol=1e-4)

        # conv1: PyTorch (out, in, kh, kw) kernel + mfm over the channel halves, on [0, 1] input.
        unit = (x + 1) / 2
        w, b = state["module.conv1.filter.weight"], state["module.conv1.filter.bias"]
        padded = np.pad(unit[..., 0], ((0, 0), (2, 2), (2, 2)))
        r, c = 7, 11
        patch = padded[:, r : r + 5, c : c + 5]
        response = np.einsum("bij,oij->bo", patch, w[:, 0]) + b
        half = widths[0]
        expected_conv1 = np.maximum(response[:, :half], response[:, half:])
        conv1 = keras.Model(model.input, model.get_layer("conv1_mfm").output)(x).numpy()
        self.assertAllClose(conv1[:, r, c], expected_conv1, atol=1e-5)

    def test_converter_rejects_mismatched_widths_and_missing_keys(self):
        model = light_cnn.build_light_cnn29(32, 1, (4, 6, 8, 6, 6), (1, 1, 1, 1))
        wrong = fake_state_dict(lightcnn29_v2_state_dict_shapes((8, 6, 8, 6, 6), (1, 1, 1, 1), 32))
        with self.assertRaisesRegex(ValueError, "conv1_filter"):
            light_cnn.convert_lightcnn_state_dict(wrong, model)
        partial = fake_state_dict(lightcnn29_v2_state_dict_shapes((4, 6, 8, 6, 6), (1, 1, 1, 1), 32))
        del partial["module.fc.weight"], partial["module.fc.bias"]
        with self.assertRaisesRegex(ValueError, "fc"):
            light_cnn.convert_lightcnn_state_dict(partial, model)

    def test_checkpoint_loader_needs_torch(self):
        try:
            import torch  # noqa: F401
        except ImportError:
            model = light_cnn.build_light_cnn29(32, 1, (4, 6, 8, 6, 6), (1, 1, 1, 1))
            with self.assertRaisesRegex(ImportError, "identity-network fallback"):
                light_cnn.load_lightcnn_checkpoint("LightCNN_29Layers_V2_checkpoint.pth.tar", model)

    def test_rgb_adapter_and_bad_input_size(self):
        model = light_cnn.build_light_cnn29(16, 3, (4, 6, 8, 6, 6), (1, 1, 1, 1), embedding_dim=8)
        grey = light_cnn.build_light_cnn29(16, 1, (4, 6, 8, 6, 6), (1, 1, 1, 1), embedding_dim=8)
        for src, dst in zip(model.layers[2:], grey.layers[1:]):
            dst.set_weights(src.get_weights())
        x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 1)).astype("float32")
        self.assertAllClose(model(np.repeat(x, 3, -1))["embedding"], grey(x)["embedding"], atol=1e-5)
        with self.assertRaisesRegex(ValueError, "multiple of 16"):
            light_cnn.build_light_cnn29(input_size=40)
