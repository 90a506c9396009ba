import cv2
import numpy as np
import pytest

from fer_zoo.data.faceset import FaceSet
from fer_zoo.data.synthfer import EVEN_LIGHT, EXPRESSIONS, Light, SynthFER
from fer_zoo.data.synthfer.preview import contact_sheet

SIZE = 48
HARSH_RIGHT = Light(azimuth=90.0, elevation=0.0, strength=1.2, ambient=0.05)


@pytest.fixture(scope="module")
def grey():
    return SynthFER(image_size=SIZE, channels=1, seed=0)


@pytest.fixture(scope="module")
def rgb():
    return SynthFER(image_size=SIZE, channels=3, seed=0)


def test_expressions_are_the_shared_classes():
    assert EXPRESSIONS == ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def test_shape_dtype_and_range(grey, rgb):
    for renderer, channels in ((grey, 1), (rgb, 3)):
        x = renderer.render(3, "happy", yaw=30.0, pitch=-10.0, light=HARSH_RIGHT)
        assert x.shape == (SIZE, SIZE, channels)
        assert x.dtype == np.float32
        assert x.min() >= -1.0 and x.max() <= 1.0
        assert x.max() - x.min() > 0.5  # not a blank image
    big = SynthFER(image_size=72, channels=3, seed=0).render(0)
    assert big.shape == (72, 72, 3)


def test_deterministic_from_seed_and_identity(grey):
    again = SynthFER(image_size=SIZE, channels=1, seed=0)
    args = dict(identity=5, expression="sad", intensity=0.7, yaw=-20.0, pitch=5.0, light=Light(30, 20, 0.8, 0.3))
    np.testing.assert_array_equal(grey.render(**args), again.render(**args))
    other_seed = SynthFER(image_size=SIZE, channels=1, seed=1)
    assert np.abs(grey.render(**args) - other_seed.render(**args)).mean() > 0.02


def test_identity_changes_the_image(grey):
    a, b = grey.render(0), grey.render(1)
    assert np.abs(a - b).mean() > 0.05
    assert grey.identity_params(0) != grey.identity_params(1)


def test_yaw_plus_and_minus_are_mirror_images(rgb):
    # Identities are left-right symmetric and EVEN_LIGHT has azimuth 0.
    for yaw in (0.0, 35.0):
        left = rgb.render(2, "fear", yaw=-yaw, light=EVEN_LIGHT)
        right = rgb.render(2, "fear", yaw=yaw, light=EVEN_LIGHT)
        assert np.abs(left - right[:, ::-1]).mean() < 0.01
    assert np.abs(rgb.render(2, "fear", yaw=35.0) - rgb.render(2, "fear", yaw=-35.0)).mean() > 0.1


def test_yaw_causes_self_occlusion(grey):
    def hidden_far_side(yaw):
        v = grey.surface_visibility(4, "neutral", yaw=yaw)
        hidden = v["front_facing"] & v["in_frame"] & v["occluded"]
        # At positive yaw the far side of the face is theta > 0.
        return hidden[:, v["theta"] > 0.05].sum(), hidden[:, v["theta"] < -0.05].sum()

    far_frontal, _ = hidden_far_side(0.0)
    far_turned, near_turned = hidden_far_side(60.0)
    # Surface that faces the camera but is hidden behind the nose and brow: rare frontally,
    # common on the far side at yaw 60, and not on the near side.
    assert far_turned > 60
    assert far_turned > 3 * far_frontal
    assert near_turned < far_turned / 4


def test_yaw_foreshortens_the_face(grey):
    # The far half of the face covers fewer pixels once the head turns.
    def far_half_pixels(yaw):
        v = grey.surface_visibility(4, "neutral", yaw=yaw)
        return (v["visible"][:, v["theta"] > 0.05]).sum()

    assert far_half_pixels(45.0) < 0.7 * far_half_pixels(0.0)


def test_harsh_side_light_splits_left_and_right(grey):
    def halves(light):
        x = grey.render(6, "neutral", light=light)[..., 0]
        face = x[SIZE // 4: 3 * SIZE // 4]
        return face[:, : SIZE // 2].mean(), face[:, SIZE // 2:].mean()

    left, right = halves(HARSH_RIGHT)
    assert right - left > 0.3
    left, right = halves(EVEN_LIGHT)
    assert abs(right - left) < 0.05
    left, right = halves(HARSH_RIGHT._replace(azimuth=-90.0))
    assert left - right > 0.3


def test_side_light_casts_shadows(grey):
    flat = SynthFER(image_size=SIZE, channels=1, seed=0, shadows=False)
    mid = slice(int(0.3 * SIZE), int(0.65 * SIZE))  # eye to mouth rows
    left, right = slice(int(0.2 * SIZE), int(0.5 * SIZE)), slice(int(0.5 * SIZE), int(0.8 * SIZE))

    def shadowed(light):
        darker = (flat.render(3, light=light) - grey.render(3, light=light))[..., 0]
        assert darker.min() >= -1e-6  # shadows only ever remove direct light
        shadow = darker > 0.1
        return shadow[mid, left].sum(), shadow[mid, right].sum()

    # Light from image left: the nose shadows the cheek on its right, and vice versa.
    from_left, from_right = shadowed(Light(-45.0, 20.0, 1.1, 0.1)), shadowed(Light(45.0, 20.0, 1.1, 0.1))
    assert from_left[1] >= 8 and from_left[0] <= 2
    assert from_right[0] >= 8 and from_right[1] <= 2
    assert max(shadowed(EVEN_LIGHT)) <= 4  # the soft frontal light casts little (under the nose)


def test_intensity_zero_is_exactly_neutral(grey):
    neutral = grey.render(7, "neutral", yaw=15.0)
    for expression in EXPRESSIONS:
        np.testing.assert_array_equal(grey.render(7, expression, intensity=0.0, yaw=15.0), neutral)


def test_intensity_is_continuous(grey):
    neutral, half, full = (grey.render(7, "surprise", intensity=t) for t in (0.0, 0.5, 1.0))
    d_half, d_full = np.abs(half - neutral).mean(), np.abs(full - neutral).mean()
    assert 0 < d_half < d_full


def test_expressions_change_only_the_face(grey):
    neutral = grey.render(8, "neutral")
    for expression in EXPRESSIONS:
        if expression == "neutral":
            continue
        diff = np.abs(grey.render(8, expression) - neutral)[..., 0]
        # Nothing at all changes in the background, the crown, the ears or the neck ...
        rows, cols = np.nonzero(diff > 0)
        assert rows.min() >= 2 and rows.max() < 0.92 * SIZE, expression
        assert cols.min() > 0.12 * SIZE and cols.max() < 0.88 * SIZE, expression
        # ... and the visible changes are in the face itself.
        rows, cols = np.nonzero(diff > 0.02)
        assert len(rows) > 50, expression
        assert rows.min() > 0.1 * SIZE and rows.max() < 0.9 * SIZE, expression
        assert cols.min() > 0.15 * SIZE and cols.max() < 0.85 * SIZE, expression


def test_expressions_are_distinct(grey):
    images = np.stack([grey.render(9, e) for e in EXPRESSIONS])
    for i in range(len(EXPRESSIONS)):
        for j in range(i + 1, len(EXPRESSIONS)):
            assert np.abs(images[i] - images[j]).mean() > 0.003, (EXPRESSIONS[i], EXPRESSIONS[j])


def test_render_batch_broadcasts_and_matches_render(grey):
    lights = [EVEN_LIGHT, HARSH_RIGHT, EVEN_LIGHT]
    xs = grey.render_batch(identity=[1, 2, 1], expression="happy", intensity=1.0, yaw=[0, 30, -30], light=lights)
    assert xs.shape == (3, SIZE, SIZE, 1)
    np.testing.assert_array_equal(xs[1], grey.render(2, "happy", yaw=30, light=HARSH_RIGHT))
    np.testing.assert_array_equal(xs[2], grey.render(1, 3, yaw=-30))
    with pytest.raises(ValueError, match="identity has 2 entries"):
        grey.render_batch(identity=[1, 2], yaw=[0, 1, 2])


def test_faceset_grid_and_labels(grey):
    harsh = grey.sample_light(np.random.default_rng(0), harsh=True)
    fs = grey.faceset(identities=[0, 3], expressions=["happy", "sad"], yaws=(-30, 30), pitches=(0, 10),
                      lights=[EVEN_LIGHT, harsh], intensities=(0.5, 1.0))
    assert isinstance(fs, FaceSet)
    assert len(fs) == 2 * 2 * 2 * 2 * 2 * 2
    assert fs.images.shape == (64, SIZE, SIZE, 1)
    labels = fs.labels
    assert sorted(set(labels["identity"])) == [0, 3]
    assert sorted(set(labels["expression"])) == [EXPRESSIONS.index("happy"), EXPRESSIONS.index("sad")]
    assert sorted(set(labels["yaw"])) == [-30, 30]
    assert sorted(set(labels["pitch"])) == [0, 10]
    assert sorted(set(labels["intensity"])) == [0.5, 1.0]
    assert sorted(set(labels["illumination"])) == [0, 1]
    # Every combination exactly once, and each image is what render() gives for its labels.
    combos = set(zip(*(labels[k] for k in ("identity", "expression", "yaw", "pitch", "intensity", "illumination"))))
    assert len(combos) == len(fs)
    i = int(np.nonzero((labels["identity"] == 3) & (labels["expression"] == 5) & (labels["yaw"] == 30)
                       & (labels["pitch"] == 10) & (labels["intensity"] == 0.5) & (labels["illumination"] == 1))[0][0])
    assert labels["light_azimuth"][i] == np.float32(harsh.azimuth)
    assert labels["light_strength"][i] == np.float32(harsh.strength)
    np.testing.assert_array_equal(fs.images[i], grey.render(3, "sad", 0.5, 30, 10, harsh))


def test_faceset_random_lights(grey):
    fs = grey.faceset(identities=[1], expressions=[4], yaws=(0,), lights="random", n_lights=3)
    assert len(fs) == 3 and sorted(fs.labels["illumination"]) == [0, 1, 2]
    assert len(set(fs.labels["light_azimuth"])) == 3


def test_sample_random_factors(grey):
    fs = grey.sample(6, rng_seed=3, yaw_range=(-45, 45), pitch_range=(-10, 10), intensity_range=(0.2, 0.9))
    again = grey.sample(6, rng_seed=3, yaw_range=(-45, 45), pitch_range=(-10, 10), intensity_range=(0.2, 0.9))
    np.testing.assert_array_equal(fs.images, again.images)
    assert fs.images.shape == (6, SIZE, SIZE, 1)
    assert np.all(np.abs(fs.labels["yaw"]) <= 45) and np.all(np.abs(fs.labels["pitch"]) <= 10)
    assert np.all((fs.labels["intensity"] >= 0.2) & (fs.labels["intensity"] <= 0.9))
    assert set(fs.labels) >= {"expression", "identity", "yaw", "pitch", "intensity", "illumination"}


def test_sample_light(grey):
    rng = np.random.default_rng(1)
    harsh = [grey.sample_light(rng, harsh=True) for _ in range(5)]
    soft = [grey.sample_light(rng) for _ in range(5)]
    assert all(abs(light.azimuth) >= 55 and light.ambient < 0.2 for light in harsh)
    assert all(abs(light.azimuth) <= 45 and light.ambient >= 0.3 for light in soft)


def test_noise_and_blur(grey):
    clean = grey.render(1)
    noisy = grey.render(1, noise=0.1)
    np.testing.assert_array_equal(noisy, grey.render(1, noise=0.1))  # deterministic by default
    assert 0.05 < np.std(noisy - clean) < 0.15
    blurred = grey.render(1, blur=1.5)
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(clean, axis=1)).mean()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(image_size=20), "image_size"),
        (dict(image_size=300), "image_size"),
        (dict(channels=2), "channels"),
    ],
)
def test_bad_constructor_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SynthFER(**kwargs)


def test_bad_render_args(grey):
    with pytest.raises(ValueError, match="unknown expression 'bored'"):
        grey.render(0, "bored")
    with pytest.raises(ValueError, match="unknown expression"):
        grey.render(0, 7)
    with pytest.raises(ValueError, match="yaw"):
        grey.render(0, yaw=120)
    with pytest.raises(ValueError, match="pitch"):
        grey.render(0, pitch=-45)
    with pytest.raises(ValueError, match="intensity"):
        grey.render(0, intensity=1.5)
    with pytest.raises(ValueError, match="identity"):
        grey.render(-1)
    with pytest.raises(ValueError, match="light"):
        grey.render(0, light="dim")


def test_contact_sheet_writes_labelled_png(tmp_path):
    path = contact_sheet(tmp_path / "sheet.png", identities=(0,), expressions=("happy", "sad"), yaws=(0, 45),
                         lights=("even",), image_size=48, scale=1)
    sheet = cv2.imread(str(path))
    assert sheet.shape == (24 + 2 * 48, 150 + 2 * 48, 3)
    assert sheet[:24, 150:].min() < 128  # column labels drawn
