import cv2
import numpy as np
import pytest

from fer_zoo.data import preprocessing
from fer_zoo.data.preprocessing import FacePreprocessor
from fer_zoo.data.synthfer import SynthFER


@pytest.fixture(scope="module")
def frontal_photo():
    """A SynthFER frontal face (which the Haar cascades detect) pasted on a larger dark canvas."""
    face = SynthFER(image_size=128, channels=3, seed=0).render(
        identity=0, expression="neutral", yaw=0.0
    )
    canvas = np.full((200, 240, 3), -0.6, np.float32)
    canvas[36:164, 60:188] = face
    return canvas


def test_frontal_detection_and_eye_alignment(frontal_photo):
    pre = FacePreprocessor(size=32, channels=1, eye_y=0.4, eye_distance=0.35)
    results = pre.process(frontal_photo)
    assert len(results) == 1
    result = results[0]
    assert result.method == "frontal" and result.aligned
    x, y, w, h = result.box
    assert 60 <= x + w / 2 <= 188 and 36 <= y + h / 2 <= 164  # on the pasted face
    # The alignment maps the detected eyes exactly onto the configured output positions.
    eyes = np.array([[*result.eyes[0], 1.0], [*result.eyes[1], 1.0]])
    mapped = eyes @ result.transform.T
    np.testing.assert_allclose(mapped, [[0.5 - 0.175, 0.4], [0.5 + 0.175, 0.4]], atol=1e-6)
    assert result.face.shape == (32, 32, 1) and result.face.dtype == np.float32
    assert -1.0 <= result.face.min() and result.face.max() <= 1.0
    boxes_faces = pre(frontal_photo)
    assert boxes_faces[0][0] == result.box and np.array_equal(boxes_faces[0][1], result.face)
    bigger = pre.crop(frontal_photo, result, size=48, channels=3)
    assert bigger.shape == (48, 48, 3)


def test_search_on_a_shrunken_copy_maps_boxes_back_to_source_pixels(frontal_photo):
    # A 3x larger photo: the face (384 px) is searched in a copy shrunk to ~1/4 of the side.
    big = cv2.resize(frontal_photo, None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
    fast = FacePreprocessor(size=32, detect_face_px=30).first(big)
    exact = FacePreprocessor(size=32, detect_face_px=None, scale_factor=1.1).first(big)
    assert fast.method == exact.method == "frontal"
    fx, fy, fw, fh = fast.box
    ex, ey, ew, eh = exact.box
    # Same face, in source pixels: centres within 10% of the face side, sizes within 20%.
    assert abs((fx + fw / 2) - (ex + ew / 2)) < 0.1 * ew and abs((fy + fh / 2) - (ey + eh / 2)) < 0.1 * eh
    assert 0.8 < fw / ew < 1.25
    assert 180 <= fx + fw / 2 <= 564 and 108 <= fy + fh / 2 <= 492  # on the pasted face
    with pytest.raises(ValueError, match="detect_face_px"):
        FacePreprocessor(detect_face_px=8)
    with pytest.raises(ValueError, match="scale_factor"):
        FacePreprocessor(scale_factor=1.0)


def test_no_face_is_a_clear_result_not_a_crash():
    blank = np.full((80, 80, 3), 128, np.uint8)
    pre = FacePreprocessor(size=16)
    assert pre(blank) == []
    result = pre.first(blank)
    assert not result.found and result.face is None and "frontal" in result.reason
    fallback = FacePreprocessor(
        size=16, detectors=("frontal", "profile", "foreground", "centre")
    ).first(blank)
    assert fallback.found and fallback.method == "centre" and fallback.face.shape == (16, 16, 1)


def test_passthrough_of_cropped_faces_and_input_types(tmp_path):
    grey = np.tile(np.arange(24, dtype=np.uint8)[None] * 10, (24, 1))
    pre = FacePreprocessor(size=24, channels=1, assume_cropped=True)
    result = pre.first(grey)
    assert result.method == "cropped"
    np.testing.assert_allclose(result.face[..., 0], grey / 127.5 - 1.0, atol=1e-5)
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), grey)
    np.testing.assert_allclose(pre.first(path).face, result.face, atol=1e-5)
    from_float = pre.first(grey.astype(np.float32) / 127.5 - 1.0).face
    np.testing.assert_allclose(from_float, result.face, atol=1e-2)
    with pytest.raises(ValueError, match="shape"):
        pre.first(np.zeros((4, 4, 2), np.uint8))


def test_config_round_trip_and_validation():
    pre = FacePreprocessor(
        size=48, channels=3, margin=0.2, align=False, detectors=("frontal", "centre")
    )
    config = pre.get_config()
    clone = FacePreprocessor.from_config(config)
    assert clone.get_config() == config and clone.config_hash() == pre.config_hash()
    assert FacePreprocessor(size=49).config_hash() != pre.config_hash()
    fine = FacePreprocessor(profile_face_px=36)
    assert FacePreprocessor.from_config(fine.get_config()).profile_face_px == 36
    assert fine.config_hash() != FacePreprocessor().config_hash()
    with pytest.raises(ValueError, match="profile_face_px"):
        FacePreprocessor(profile_face_px=12)
    with pytest.raises(ValueError, match="landmarks"):
        FacePreprocessor(detectors=("landmarks",))
    with pytest.raises(ValueError, match="channels"):
        FacePreprocessor(channels=2)


def test_relative_luminance_and_gasca_target():
    red = np.full((1, 4, 4, 3), -1.0, np.float32)
    red[..., 0] = 1.0
    assert preprocessing.relative_luminance(red)[0] == pytest.approx(0.2126)
    mid_grey = np.zeros((4, 4, 1), np.float32)  # 0.5 encoded
    assert preprocessing.relative_luminance(mid_grey) == pytest.approx(0.5)
    assert preprocessing.relative_luminance(mid_grey, linear=True) == pytest.approx(0.214, abs=1e-3)
    levels = np.array(
        [-0.9, -0.1, 0.3, 0.9], np.float32
    )  # luminance 0.05, 0.45, 0.65, 0.95; mean 0.525
    images = np.broadcast_to(levels[:, None, None, None], (4, 3, 3, 3))
    assert preprocessing.closest_to_mean_luminance(images) == 1


def test_preprocess_files_cache_and_bad_files(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"img{i}.png")
        cv2.imwrite(str(paths[-1]), np.full((20, 20), 40 * i, np.uint8))
    pre = FacePreprocessor(size=8, assume_cropped=True)
    first = preprocessing.preprocess_files(paths, pre, cache_dir=tmp_path / "cache")
    assert not first["cached"] and first["images"].shape == (3, 8, 8, 1)
    second = preprocessing.preprocess_files(paths, pre, cache_dir=tmp_path / "cache")
    assert second["cached"]
    np.testing.assert_array_equal(first["images"], second["images"])
    assert second["method"] == ["cropped"] * 3
    # A different config is a different cache entry.
    third = preprocessing.preprocess_files(
        paths, FacePreprocessor(size=4, assume_cropped=True), cache_dir=tmp_path / "cache"
    )
    assert not third["cached"]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="broken.png"):
        preprocessing.preprocess_files(paths + [broken], pre)
    skipped = preprocessing.preprocess_files(paths + [broken], pre, skip_bad=True)
    assert skipped["keep"].tolist() == [0, 1, 2] and skipped["bad"][0][0] == str(broken)


def test_studio_silhouette_and_head_box():
    # Beige studio background, a darker "head" ellipse with its top at row 30 and a body below.
    photo = np.zeros((200, 160, 3), np.uint8)
    photo[:] = (200, 190, 170)
    cv2.ellipse(photo, (80, 80), (40, 50), 0, 0, 360, (120, 80, 60), -1)
    cv2.rectangle(photo, (30, 140), (130, 200), (90, 90, 90), -1)
    mask, top = preprocessing.head_silhouette(photo)
    assert top == pytest.approx(30, abs=2) and mask[80, 80] and not mask[5, 5]
    frontal = preprocessing.studio_head_box(mask, top, 0.0, side=90, top_to_centre=50)
    assert frontal[0] + frontal[2] / 2 == pytest.approx(80, abs=2) and frontal[2] == 90
    left = preprocessing.studio_head_box(
        mask, top, -90.0, side=90, top_to_centre=50, nose_inset=0.1
    )
    # Facing left: the head's leftmost column (40) lies 10% of the side inside the crop.
    assert left[0] == pytest.approx(40 - 9, abs=2)
    right = preprocessing.studio_head_box(
        mask, top, 90.0, side=90, top_to_centre=50, nose_inset=0.1
    )
    assert right[0] + right[2] == pytest.approx(120 + 9, abs=2)
    assert preprocessing.head_silhouette(np.full((50, 50, 3), 200, np.uint8)) == (None, None)


def _profile_photo(identity, yaw, roll=0.0, seed=7):
    """A SynthFER head at `yaw` on a plain canvas, turned in-plane by `roll` degrees; the head's
    square occupies rows/cols 80..240 of the 320 px canvas."""
    face = SynthFER(image_size=160, channels=3, seed=seed).render(identity, "happy", yaw=yaw)
    canvas = np.full((320, 320, 3), 128, np.uint8)
    canvas[80:240, 80:240] = ((np.asarray(face) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    if roll:
        turn = cv2.getRotationMatrix2D((160.0, 160.0), roll, 1.0)
        canvas = cv2.warpAffine(canvas, turn, (320, 320), borderMode=cv2.BORDER_REPLICATE)
    return canvas


@pytest.mark.parametrize("yaw", [-90, 90])
def test_full_profiles_on_both_sides_are_found_on_the_head(yaw):
    # SynthFER knows the pose exactly: full profiles (yaw +-90) of 6 identities. Before the
    # profile stage was re-tuned (equalised image, coarse pyramid) it found none of them.
    pre = FacePreprocessor(size=48, channels=1)
    found = []
    for identity in range(6):
        results = pre.process(_profile_photo(identity, yaw))
        if results:
            result = results[0]
            assert result.method == "profile" and not result.aligned
            x, y, w, h = result.box
            assert 80 <= x + w / 2 <= 240 and 80 <= y + h / 2 <= 240  # on the head
            assert 60 <= w <= 200
            found.append(identity)
    assert len(found) >= 4, f"yaw {yaw}: full profile found for identities {found} of 0..5"


def test_tilted_profile_is_found_and_cropped_upright():
    # A profile turned 15 degrees in-plane: found by a turned pass, and the crop is turned back,
    # so it matches the crop of the untilted photo far better than an axis-aligned crop would.
    pre = FacePreprocessor(size=48, channels=1, margin=0.1)
    upright = pre.first(_profile_photo(1, 90))
    tilted_photo = _profile_photo(1, 90, roll=15.0)
    tilted = pre.first(tilted_photo)
    assert upright.found and tilted.found and tilted.method == "profile"
    assert tilted.roll != 0.0
    # The crop transform turns the face back: the transform's rotation undoes the photo's roll.
    angle = np.degrees(np.arctan2(tilted.transform[1, 0], tilted.transform[0, 0]))
    assert abs(angle + tilted.roll) < 1e-6 and abs(abs(tilted.roll) - 15.0) < 1e-6
    axis_aligned = pre._warp(preprocessing.to_uint8_rgb(tilted_photo),
                             preprocessing._box_transform(tilted.box, 0.1), 48, 1)
    error_turned = np.abs(tilted.face - upright.face).mean()
    error_axis_aligned = np.abs(axis_aligned - upright.face).mean()
    assert error_turned < error_axis_aligned


def test_finer_profile_search_searches_a_larger_copy_and_still_finds_profiles(monkeypatch):
    from fer_zoo.data import preprocessing

    scales = []
    original = preprocessing._DetectionImage.__init__

    def spy(self, rgb, min_face, face_px, scale_factor=1.1):
        original(self, rgb, min_face, face_px, scale_factor)
        scales.append(self.scale)

    monkeypatch.setattr(preprocessing._DetectionImage, "__init__", spy)
    photo = _profile_photo(2, 90)
    results = FacePreprocessor(size=48, profile_face_px=36).process(photo)
    # One copy for the frontal stage (30 px faces), a 1.2x larger one for the profile stage.
    assert len(scales) == 2 and scales[1] == pytest.approx(1.2 * scales[0], rel=0.02)
    assert [r.method for r in results] == ["profile"]
    x, y, w, h = results[0].box
    assert 80 <= x + w / 2 <= 240 and 80 <= y + h / 2 <= 240


def test_profile_stage_ignores_face_free_textures():
    rng = np.random.default_rng(0)
    noise = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    stripes = np.tile((np.sin(np.arange(320) / 6.0)[None, :, None] * 100 + 128).astype(np.uint8), (240, 1, 3))
    pre = FacePreprocessor(size=32)
    for image in (noise, stripes, cv2.GaussianBlur(noise, (0, 0), 4)):
        assert pre.process(image) == []


def test_frontal_and_profile_faces_in_one_photo_are_both_found():
    # A frontal head and a full profile side by side: the detectors' faces are merged, one per
    # head (before, the first stage that found anything ended the search).
    frontal = SynthFER(image_size=160, channels=3, seed=0).render(0, "neutral", yaw=0.0)
    photo = np.full((320, 640, 3), 128, np.uint8)
    photo[80:240, 80:240] = ((np.asarray(frontal) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    photo[:, 320:] = _profile_photo(1, 90)
    results = FacePreprocessor(size=48, channels=1).process(photo)
    methods = {r.method: r.box for r in results}
    assert len(results) == 2 and set(methods) == {"frontal", "profile"}, [(r.method, r.box) for r in results]
    assert methods["frontal"][0] + methods["frontal"][2] / 2 < 320 < methods["profile"][0] + methods["profile"][2] / 2


def test_profile_below_a_frontal_face_is_found_in_the_strip_beside_it():
    # Beside one frontal face only the strips where another head fits are searched; a head
    # wholly below the face (people in rows) lies in the "below" strip.
    frontal = SynthFER(image_size=160, channels=3, seed=0).render(0, "neutral", yaw=0.0)
    photo = np.full((640, 320, 3), 128, np.uint8)
    photo[80:240, 80:240] = ((np.asarray(frontal) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    photo[320:] = _profile_photo(1, 90)
    results = FacePreprocessor(size=48, channels=1).process(photo)
    methods = {r.method: r.box for r in results}
    assert set(methods) == {"frontal", "profile"}, [(r.method, r.box) for r in results]
    assert methods["profile"][1] + methods["profile"][3] / 2 > 320


def test_region_search_maps_boxes_back_to_the_whole_photo(monkeypatch):
    photo = _profile_photo(1, 90)
    search = preprocessing._DetectionImage(photo, 0.1, 30)
    def both_sides(**region):
        return [found for mirrored in (False, True) for found in search.detect(
            "haarcascade_profileface.xml", mirrored=mirrored, min_neighbors=2, scale_factor=1.08, **region)]

    whole, part = both_sides(), both_sides(region=(40, 40, 300, 300))
    assert whole and part
    best = max(whole, key=lambda b: b[1])[0]
    assert max(preprocessing._iou(best, b) for b, _ in part) > 0.7
    # A region smaller than the smallest face searched is skipped without running the cascade.
    assert search.detect("haarcascade_profileface.xml", region=(0, 0, 20, 320)) == []


def test_a_portrait_filled_by_its_face_runs_no_profile_pass(monkeypatch):
    frontal = SynthFER(image_size=200, channels=3, seed=0).render(0, "neutral", yaw=0.0)
    photo = ((np.asarray(frontal) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    calls = []
    original = preprocessing._detect

    def counting(cascade_name, *args, **kwargs):
        calls.append(cascade_name)
        return original(cascade_name, *args, **kwargs)

    monkeypatch.setattr(preprocessing, "_detect", counting)
    results = FacePreprocessor(size=48, channels=1).process(photo)
    assert [r.method for r in results] == ["frontal"]
    assert "haarcascade_profileface.xml" not in calls, calls


def test_turned_profile_passes_are_skipped_when_no_upright_window_fires(monkeypatch):
    # A photo where not one raw window of the upright profile cascade fires holds nothing
    # face-like to turn: the four turned passes (most of a face-free photo's cost) are skipped.
    turned = []
    original = preprocessing._DetectionImage.detect_rolled

    def counting(self, cascade_name, angle, **kwargs):
        turned.append(angle)
        return original(self, cascade_name, angle, **kwargs)

    monkeypatch.setattr(preprocessing._DetectionImage, "detect_rolled", counting)
    ramp = np.tile(np.linspace(40, 220, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    pre = FacePreprocessor(size=32)
    assert pre.process(ramp) == [] and turned == []
    # A tilted profile still reaches the turned passes (some upright windows fire on it).
    assert pre.first(_profile_photo(1, 90, roll=15.0)).found and turned


def test_from_model_range_inverts_to_model_range_and_clips():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    model_range = preprocessing.to_model_range(levels, channels=1)
    np.testing.assert_array_equal(preprocessing.from_model_range(model_range)[..., 0], levels)
    # Generators can overshoot [-1, 1]: clipped, not wrapped round.
    np.testing.assert_array_equal(preprocessing.from_model_range(np.array([-1.5, -1.0, 0.0, 1.0, 1.7])),
                                  [0, 0, 128, 255, 255])
