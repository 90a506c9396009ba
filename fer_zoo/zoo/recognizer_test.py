import cv2
import numpy as np
import pytest

from fer_zoo.data.preprocessing import FacePreprocessor
from fer_zoo.data.synthfer import SynthFER
from fer_zoo.zoo import _testing, loading
from fer_zoo.zoo.recognizer import ImageResult, Recognizer


@pytest.fixture(scope="module")
def faces():
    """Three SynthFER faces, uint8 RGB 96x96 (licence-free)."""
    renderer = SynthFER(image_size=96, channels=3, seed=0)
    rendered = [
        renderer.render(identity=i, expression=e)
        for i, e in ((1, "happy"), (2, "sad"), (3, "surprise"))
    ]
    return [np.round((x + 1.0) * 127.5).astype(np.uint8) for x in rendered]


@pytest.fixture(scope="module")
def recognizer(tiny_model):
    return Recognizer(tiny_model)


def _png_bytes(rgb):
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def test_all_faces_of_a_batch_in_one_model_call(recognizer, tiny_model, faces, tmp_path,
                                                monkeypatch):
    group = np.concatenate([faces[0], faces[1]], axis=1)  # two faces side by side
    grey_path = tmp_path / "grey.png"
    cv2.imwrite(str(grey_path), cv2.cvtColor(faces[2], cv2.COLOR_RGB2GRAY))
    blank = np.full((120, 160, 3), 128, np.uint8)  # larger than a face crop: no fallback
    calls = []
    real = loading.predict_probabilities

    def counting(model, inputs, *args, **kwargs):
        calls.append(len(inputs))
        return real(model, inputs, *args, **kwargs)

    monkeypatch.setattr(loading, "predict_probabilities", counting)
    images = [group, grey_path, _png_bytes(faces[0]), blank]
    results = recognizer.predict(images)
    # Every face the detector finds (it is engineer C's FacePreprocessor; its recall on
    # side-by-side faces is its own business) is classified, all in one batched call.
    detector = FacePreprocessor(size=16, channels=1, margin=0.15, align=True)
    found = [len(detector(group)), len(detector(cv2.imread(str(grey_path), 0))),
             len(detector(faces[0])), 0]
    assert [len(r) for r in results] == found and sum(found) >= 3
    assert calls == [sum(found)]
    assert [r.no_face for r in results] == [False, False, False, True]
    assert results[1].source == str(grey_path) and results[2].source == "<bytes #2>"
    assert results[0].image_size == (96, 192)
    assert all(face.box[0] + face.box[2] <= 192 for face in results[0])

    # Probabilities are the model's on the aligned crops of the detector.
    crops = [face for _, face in detector(group)]
    expected = tiny_model.predict(np.stack(crops), verbose=0)
    names = tiny_model.fer_zoo_metadata["class_names"]
    for face, row in zip(results[0], expected):
        np.testing.assert_allclose([face.probabilities[n] for n in names], row, atol=1e-5)
        assert face.label == names[int(np.argmax(row))]
        assert face.score == pytest.approx(float(row.max()), abs=1e-6)


def test_single_input_returns_one_result_and_json(recognizer, faces):
    result = recognizer.predict(faces[1].astype(np.float32) / 127.5 - 1.0)  # [-1, 1] float
    assert isinstance(result, ImageResult) and len(result) == 1
    record = result.to_dict()
    assert record["no_face"] is False
    assert sum(record["faces"][0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert len(record["faces"][0]["box"]) == 4


def test_no_face_and_bad_files_say_so(recognizer, tmp_path):
    result = recognizer.predict(np.zeros((200, 200), np.uint8))
    assert result.no_face and result.faces == []
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        recognizer.predict(str(broken))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        recognizer.predict(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="bytes #0"):
        recognizer.predict([b"not an image"])


def test_cropped_mode_and_custom_detector(tiny_model, faces):
    crop = faces[0][10:80, 10:80]
    result = Recognizer(tiny_model, detector="cropped").predict(crop)
    assert len(result) == 1 and result[0].box == (0, 0, 70, 70)

    def two_boxes(image):
        face = np.zeros((16, 16, 1), np.float32)
        return [((0, 0, 8, 8), face), ((8, 8, 8, 8), face + 0.5)]

    results = Recognizer(tiny_model, detector=two_boxes).predict([crop, crop])
    assert [len(r) for r in results] == [2, 2]
    assert results[0][0].probabilities != results[0][1].probabilities


def test_annotate_draws_boxes_and_labels(recognizer, faces):
    image = np.concatenate([faces[0], faces[1]], axis=1)
    result = recognizer.predict(image)
    annotated = recognizer.annotate(image, result)
    assert annotated.shape == image.shape and annotated.dtype == np.uint8
    x, y, w, h = result[0].box
    changed = np.any(annotated != image, axis=-1)
    assert changed[y + h // 2, x] and changed[y + h // 2, x + w]  # box edges
    assert not changed[y + h // 2, x + w // 2]  # face centre untouched
    np.testing.assert_array_equal(recognizer.annotate(image, []), image)


def test_predict_video_writes_annotated_mp4(recognizer, faces, tmp_path):
    source = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 96))
    for i in range(7):
        frame = faces[i % 2] if i < 5 else np.full((96, 96, 3), 90, np.uint8)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / "out" / "annotated.mp4"
    summary = recognizer.predict_video(source, out, every_n=2, progress=False, batch_frames=2)
    assert summary["frames"] == 7 and summary["analysed_frames"] == 4  # frames 0, 2, 4, 6
    assert summary["faces"] == 3 and summary["frames_without_face"] == 1
    capture = cv2.VideoCapture(str(out))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = capture.read()
    capture.release()
    assert ok and count == 7 and frame.shape == (96, 96, 3)
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        recognizer.predict_video(tmp_path / "nope.mp4", out, progress=False)


def test_detector_options_come_from_the_model_metadata(tiny_model):
    model = _testing.build_tiny_classifier()
    metadata = dict(tiny_model.fer_zoo_metadata)
    metadata["preprocessing"] = {"detectors": ["centre"], "margin": 0.0, "crop": "studio"}
    loading.attach_metadata(model, metadata)
    recognizer = Recognizer(model)
    assert recognizer.detector.detectors == ("centre",) and recognizer.detector.margin == 0.0
    result = recognizer.predict(np.full((50, 50, 3), 128, np.uint8))  # no face, but "centre"
    assert len(result) == 1 and result[0].box == (10, 7, 30, 30)


def test_runtimes_agree_and_auto_picks_tflite_for_few_faces(tiny_model, faces, monkeypatch):
    crops = [face for face in faces]
    by_tf = Recognizer(tiny_model, detector="cropped", runtime="tf").predict(crops)
    by_tflite = Recognizer(tiny_model, detector="cropped", runtime="tflite").predict(crops)
    for a, b in zip(by_tf, by_tflite):
        np.testing.assert_allclose(list(a[0].probabilities.values()), list(b[0].probabilities.values()),
                                   atol=1e-5)
    used = []
    real = loading.predict_probabilities

    def spy(model, inputs, *args, runtime="tf", **kwargs):
        used.append((len(inputs), runtime))
        return real(model, inputs, *args, runtime=runtime, **kwargs)

    monkeypatch.setattr(loading, "predict_probabilities", spy)
    auto = Recognizer(tiny_model, detector="cropped")
    monkeypatch.setattr(auto, "SMALL_BATCH", 2)
    auto.predict(crops[:2])
    auto.predict(crops)
    assert used == [(2, "tflite"), (3, "tf")]

    def broken(model, weights="float32"):
        raise RuntimeError("unsupported op")

    monkeypatch.setattr(loading, "tflite_forward", broken)
    fallback = Recognizer(tiny_model, detector="cropped")
    with pytest.warns(UserWarning, match="TFLite conversion"):
        fallback.predict(crops[:1])
    assert used[-1] == (1, "tf")
    with pytest.raises(ValueError, match="runtime"):
        Recognizer(tiny_model, runtime="onnx")


def test_int8_runtime_quantises_and_auto_uses_it_when_the_preset_says_so(tiny_model, faces, monkeypatch):
    import keras

    # Big enough for TFLite to quantise (it leaves tensors under 1,024 weights in float).
    inputs = keras.Input((16, 16, 1))
    hidden = keras.layers.Dense(64, activation="relu")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(hidden))
    x = np.random.default_rng(0).uniform(-1, 1, (6, 16, 16, 1)).astype("float32")
    float_forward, int8_forward = loading.tflite_forward(model), loading.tflite_forward(model, "int8")
    assert float_forward is loading.tflite_forward(model, "float32")  # cached per weights
    assert int8_forward.weights == "int8" and int8_forward is not float_forward
    exact = np.asarray(model(x))
    quantised = loading.predict_probabilities(model, x, {"class_names": list("abcdefg")}, runtime="tflite-int8")
    np.testing.assert_allclose(quantised, exact, atol=0.05)
    assert not np.allclose(quantised, exact, atol=1e-6)  # really quantised, not the float model
    with pytest.raises(ValueError, match="weights"):
        loading.TFLiteForward(model, weights="int4")
    with pytest.raises(ValueError, match="runtime"):
        loading.predict_probabilities(model, x, {"class_names": list("abcdefg")}, runtime="int8")

    used = []
    real = loading.predict_probabilities

    def spy(model, inputs, *args, runtime="tf", **kwargs):
        used.append(runtime)
        return real(model, inputs, *args, runtime=runtime, **kwargs)

    monkeypatch.setattr(loading, "predict_probabilities", spy)
    crops = [face for face in faces]
    Recognizer(tiny_model, detector="cropped").predict(crops[:1])
    monkeypatch.setattr(tiny_model, "fer_zoo_metadata", {**tiny_model.fer_zoo_metadata, "tflite_weights": "int8"})
    by_int8 = Recognizer(tiny_model, detector="cropped").predict(crops)
    assert used == ["tflite", "tflite-int8"]
    assert all(result.faces for result in by_int8)


def _tight_crop(face, top=24, left=24, height=48, width=48):
    """A face crop cut too tightly (no face outline) for the Haar detector to find a face."""
    return np.ascontiguousarray(face[top:top + height, left:left + width])


def test_small_crop_without_detectable_face_is_classified_whole(tiny_model, recognizer, faces):
    crop = _tight_crop(faces[0])
    assert recognizer.detector(crop) == []  # the situation under test: nothing detected
    result = recognizer.predict(crop)
    assert not result.no_face and len(result) == 1
    face = result[0]
    assert face.cropped and face.box == (0, 0, 48, 48)
    assert face.to_dict()["cropped"] is True and result.to_dict()["no_face"] is False
    # Classified exactly as detector="cropped" classifies it (resize of the whole crop).
    forced = Recognizer(tiny_model, detector="cropped").predict(crop)[0]
    assert forced.cropped and forced.box == face.box
    np.testing.assert_allclose(list(face.probabilities.values()),
                               list(forced.probabilities.values()), atol=1e-6)

    # A detected face is not a fallback; nor is a photo larger than a face crop.
    assert recognizer.predict(faces[0])[0].cropped is False
    assert recognizer.predict(faces[0])[0].to_dict()["cropped"] is False
    assert recognizer.predict(np.full((200, 200, 3), 128, np.uint8)).no_face
    assert len(recognizer.predict(np.full((60, 96, 3), 128, np.uint8))) == 1  # 96: still a crop
    assert recognizer.predict(np.full((60, 97, 3), 128, np.uint8)).no_face
    for off in (None, 0):
        assert Recognizer(tiny_model, crop_fallback_px=off).predict(crop).no_face
    with pytest.raises(ValueError, match="crop_fallback_px"):
        Recognizer(tiny_model, crop_fallback_px=-1)


def test_grey_rgba_16_bit_and_odd_sizes_all_give_results(recognizer, faces, tmp_path):
    from fer_zoo.zoo.recognizer import read_image

    def probabilities(result):
        assert result.error is None and len(result) >= 1
        return [list(face.probabilities.values()) for face in result]

    # RGBA, file and array: transparent pixels are composited over white, both the same way.
    rgba = np.dstack([faces[0], np.full(faces[0].shape[:2], 255, np.uint8)])
    rgba[:10, :, 3] = 0  # transparent band at the top, dark colour stored under it
    rgba[:10, :, :3] = 0
    rgba_path = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba_path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    composited = faces[0].copy()
    composited[:10] = 255
    np.testing.assert_array_equal(read_image(rgba_path), composited)
    np.testing.assert_array_equal(read_image(rgba), composited)
    expected = probabilities(recognizer.predict(composited))
    assert probabilities(recognizer.predict(rgba_path)) == expected
    assert probabilities(recognizer.predict(rgba)) == expected

    # 16-bit PNG file and uint16 array: scaled from their full range, not clipped to white.
    deep = faces[1].astype(np.uint16) * 257
    deep_path = tmp_path / "deep.png"
    cv2.imwrite(str(deep_path), cv2.cvtColor(deep, cv2.COLOR_RGB2BGR))
    assert cv2.imread(str(deep_path), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    np.testing.assert_array_equal(read_image(deep_path), faces[1])
    np.testing.assert_array_equal(read_image(deep), faces[1])
    expected = probabilities(recognizer.predict(faces[1]))
    assert probabilities(recognizer.predict(deep_path)) == expected
    assert probabilities(recognizer.predict(deep)) == expected

    # Grey (H, W) and (H, W, 1) arrays, and a grey + alpha PNG file.
    grey = cv2.cvtColor(faces[2], cv2.COLOR_RGB2GRAY)
    expected = probabilities(recognizer.predict(grey))
    assert probabilities(recognizer.predict(grey[..., None])) == expected
    grey_alpha_path = tmp_path / "grey_alpha.png"
    cv2.imwrite(str(grey_alpha_path), cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA))
    assert probabilities(recognizer.predict(grey_alpha_path)) == expected

    # Odd sizes: a 53x37 crop (classified whole: its centred square), a 37x53 16-bit RGBA file.
    odd = _tight_crop(faces[0], top=20, left=30, height=53, width=37)
    result = recognizer.predict(odd)
    assert result.image_size == (53, 37) and len(result) == 1
    assert result[0].cropped and result[0].box == (0, 8, 37, 37)
    odd_path = tmp_path / "odd.png"
    odd_rgba = np.dstack([odd.transpose(1, 0, 2), np.full((37, 53), 255, np.uint8)])
    cv2.imwrite(str(odd_path), cv2.cvtColor(odd_rgba.astype(np.uint16) * 257, cv2.COLOR_RGBA2BGRA))
    result = recognizer.predict(odd_path)
    assert result.image_size == (37, 53) and len(result) == 1 and result[0].cropped


def test_batch_with_bad_items_records_them_and_classifies_the_rest(recognizer, faces, tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), cv2.cvtColor(faces[0], cv2.COLOR_RGB2BGR))
    missing = tmp_path / "missing.png"
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 truncated, not really a JPEG")
    inputs = [str(good), str(missing), str(corrupt), faces[1], b"junk"]
    results = recognizer.predict(inputs, on_error="record")
    assert len(results) == 5 and [r.source for r in results][:3] == inputs[:3]
    errors = [r.error for r in results]
    assert errors[0] is None and errors[3] is None
    assert "missing.png" in errors[1] and "not found" in errors[1]
    assert "corrupt.jpg" in errors[2] and "decode" in errors[2].lower()
    assert "bytes #4" in errors[4]
    for bad in (results[1], results[2], results[4]):
        assert bad.faces == [] and bad.no_face is False and bad.image_size is None
        record = bad.to_dict()
        assert record["error"] == bad.error and record["no_face"] is False
    # The good items are classified as they would be on their own.
    for result, alone in ((results[0], recognizer.predict(good)),
                          (results[3], recognizer.predict(faces[1]))):
        assert len(result) == len(alone) >= 1 and "error" not in result.to_dict()
        assert [f.probabilities for f in result] == [f.probabilities for f in alone]

    # Default: the first bad item raises, naming it.
    with pytest.raises(FileNotFoundError, match="missing.png"):
        recognizer.predict(inputs)
    with pytest.raises(ValueError, match="on_error"):
        recognizer.predict(inputs, on_error="skip")
    single = recognizer.predict(str(corrupt), on_error="record")
    assert isinstance(single, ImageResult) and "corrupt.jpg" in single.error


def test_full_profile_photos_are_read_not_reported_as_no_face(recognizer):
    # SynthFER heads at yaw -90 / +90 (exact pose) on a plain 320 px canvas, the head in the
    # centre 160 px: the Recognizer's detector finds profiles on both sides.
    renderer = SynthFER(image_size=160, channels=3, seed=7)
    photos = []
    for identity, yaw in ((0, -90), (1, 90), (2, -90), (3, 90)):
        canvas = np.full((320, 320, 3), 128, np.uint8)
        face = renderer.render(identity, "happy", yaw=yaw)
        canvas[80:240, 80:240] = np.round((face + 1.0) * 127.5).astype(np.uint8)
        photos.append(canvas)
    results = recognizer.predict(photos)
    read = [r for r in results if not r.no_face]
    assert len(read) >= 3, [r.to_dict() for r in results]
    for result in read:
        x, y, w, h = result[0].box
        assert 80 <= x + w / 2 <= 240 and 80 <= y + h / 2 <= 240 and not result[0].cropped


def test_profile_passes_are_skipped_in_face_crop_sized_images(tiny_model):
    # A 90 px crop of a full profile: the profile stage would "find" a sub-window; a crop-sized
    # image is read whole instead (and a large photo of the same head still gets the profile pass).
    recognizer = Recognizer(tiny_model)
    head = SynthFER(image_size=160, channels=3, seed=7).render(1, "happy", yaw=90)
    head = np.round((head + 1.0) * 127.5).astype(np.uint8)
    crop = cv2.resize(head, (90, 90), interpolation=cv2.INTER_AREA)
    result = recognizer.predict(crop)
    assert len(result) == 1 and result[0].cropped and result[0].box == (0, 0, 90, 90)
    assert "profile" not in recognizer._small_detector.detectors
    assert "profile" in recognizer.detector.detectors
    assert not Recognizer(tiny_model, crop_fallback_px=0).predict(crop).faces[0].cropped
