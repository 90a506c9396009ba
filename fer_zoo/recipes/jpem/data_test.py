import numpy as np
from absl.testing import parameterized

from fer_zoo.recipes.jpem import data as jpem_data
from fer_zoo.testing.test_case import TestCase


def grid_faces(identities=2, expressions=7, poses=3, drop=()):
    """One image per (identity, expression, pose), its pixels encoding those three labels."""
    rows = [(i, e, p) for i in range(identities) for e in range(expressions) for p in range(poses) if (i, e, p) not in drop]
    rows = np.array(rows)
    images = np.zeros((len(rows), 4, 4, 1), "float32")
    images[:, 0, 0, 0] = rows[:, 0] / 10
    images[:, 0, 1, 0] = rows[:, 1] / 10
    images[:, 0, 2, 0] = rows[:, 2] / 10
    return images, rows


class PairedFacesTest(TestCase):
    def test_targets_are_the_same_identity_at_the_target_codes(self):
        images, rows = grid_faces()
        ds = jpem_data.PairedFaces(images, rows[:, 1], rows[:, 2], rows[:, 0], 7, 3, batch_size=8, seed=1)
        self.assertEqual(len(ds), 6)  # ceil(42 / 8)
        seen = 0
        for b in range(len(ds)):
            x, labels = ds[b]
            target = labels["target_image"]
            np.testing.assert_allclose(target[:, 0, 0, 0], x[:, 0, 0, 0])  # same identity
            np.testing.assert_allclose(target[:, 0, 1, 0], labels["target_expression"] / 10, atol=1e-6)
            np.testing.assert_allclose(target[:, 0, 2, 0], labels["target_pose"] / 10, atol=1e-6)
            seen += len(x)
        self.assertEqual(seen, 42)
        self.assertGreater(ds.paired_fraction(), 0.8)  # complete grid: all but (same code) draws

    def test_missing_target_falls_back_to_reconstruction(self):
        drop = {(0, e, p) for e in range(7) for p in range(3) if (e, p) != (0, 0)}
        images, rows = grid_faces(drop=drop)  # identity 0 has a single face
        ds = jpem_data.PairedFaces(images, rows[:, 1], rows[:, 2], rows[:, 0], 7, 3, batch_size=64, shuffle=False)
        x, labels = ds[0]
        np.testing.assert_array_equal(labels["target_image"][0], x[0])
        self.assertEqual(labels["target_expression"][0], 0)
        self.assertEqual(labels["target_pose"][0], 0)

    def test_reconstruction_fraction_one_means_plain_autoencoding(self):
        images, rows = grid_faces()
        ds = jpem_data.PairedFaces(images, rows[:, 1], rows[:, 2], rows[:, 0], 7, 3, reconstruction_fraction=1.0)
        self.assertEqual(ds.paired_fraction(), 0.0)

    def test_pose_indices(self):
        np.testing.assert_array_equal(jpem_data.pose_indices([-90, 0, 45.0, 90], [-90, -45, 0, 45, 90]), [0, 2, 3, 4])
        with self.assertRaisesRegex(ValueError, "yaw 30"):
            jpem_data.pose_indices([30.0], [-90, -45, 0, 45, 90])


class GeneratedAugmentationTest(TestCase):
    def test_generate_all_targets_covers_every_combination(self):
        images = np.random.uniform(-1, 1, (3, 4, 4, 1)).astype("float32")

        def fake_generator(x, e, p):  # encodes the requested codes in the pixels
            return np.broadcast_to(((e * 3 + p) / 21.0 - 0.5)[:, None, None, None], x.shape)

        pool = jpem_data.generate_all_targets(fake_generator, images, 7, 3, batch_size=5)
        self.assertEqual(pool["images"].shape, (3 * 7 * 3, 4, 4, 1))
        self.assertEqual(pool["images"].dtype, np.uint8)
        self.assertEqual(len({(s, e, p) for s, e, p in zip(pool["source"], pool["expression"], pool["pose"])}), 63)
        decoded = jpem_data.from_uint8(pool["images"][:, 0, 0, 0])
        np.testing.assert_allclose(decoded, (pool["expression"] * 3 + pool["pose"]) / 21.0 - 0.5, atol=1 / 127)

    @parameterized.named_parameters(("0N", 0), ("1N", 1), ("5N", 5), ("10N", 10))
    def test_ratio_sets_the_generated_count(self, ratio):
        n = 6
        images = np.ones((n, 4, 4, 1), "float32")  # real faces are all 1
        expression = np.full(n, 3)
        pool = {
            "images": np.zeros((n * 21, 4, 4, 1), np.uint8),  # generated faces decode to -1
            "expression": np.arange(n * 21) % 7,
            "pose": np.zeros(n * 21, int),
            "source": np.repeat(np.arange(n), 21),
        }
        ds = jpem_data.MixedGeneratedFaces(images, expression, pool if ratio else None, ratio=ratio, batch_size=4)
        self.assertEqual(ds.epoch_counts(), {"real": n, "generated": ratio * n})
        for _ in range(2):  # the mix is redrawn, with the same counts, every epoch
            xs, ys = zip(*(ds[i] for i in range(len(ds))))
            x = np.concatenate(xs)
            self.assertEqual(len(x), n * (1 + ratio))
            self.assertEqual(int((x[:, 0, 0, 0] > 0).sum()), n)
            self.assertEqual(int((x[:, 0, 0, 0] < 0).sum()), ratio * n)
            ds.on_epoch_end()
        self.assertEqual(len(ds), int(np.ceil(n * (1 + ratio) / 4)))

    def test_ratio_needs_a_pool(self):
        with self.assertRaisesRegex(ValueError, "generated"):
            jpem_data.MixedGeneratedFaces(np.zeros((2, 4, 4, 1)), np.zeros(2), None, ratio=1)
