"""People cut from a plain studio background and pasted on clutter (fer_zoo.data.composite)."""


def _studio_photo(seed=0):
    """A plain grey-beige studio photo with a 'person' (dark hair ellipse over a skin ellipse,
    shoulders at the bottom edge) and light grey 'eye whites' close to the background colour."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    photo = np.clip(np.array([190, 180, 165]) + rng.normal(0, 3, (190, 140, 3)), 0, 255).astype(np.uint8)
    person = np.zeros(photo.shape[:2], np.uint8)
    cv2.ellipse(person, (70, 80), (40, 55), 0, 0, 360, 1, -1)
    cv2.rectangle(person, (30, 125), (110, 189), 1, -1)  # neck and shoulders
    photo[person == 1] = (200, 140, 110)
    cv2.ellipse(photo, (70, 50), (40, 25), 0, 180, 360, (40, 30, 25), -1)
    cv2.ellipse(person, (70, 50), (40, 25), 0, 180, 360, 1, -1)
    for x in (55, 85):
        cv2.circle(photo, (x, 80), 4, (188, 181, 166), -1)  # eye whites: background-coloured
    return photo, person


def test_person_cut_from_a_plain_background_keeps_the_whole_person():
    import numpy as np

    from fer_zoo.data.composite import segment_person

    photo, person = _studio_photo()
    mask = segment_person(photo)
    overlap = (mask & person).sum() / (mask | person).sum()
    assert overlap > 0.95
    assert mask[80, 55] == 1 and mask[80, 85] == 1  # background-coloured holes inside are filled
    assert mask[5, 5] == 0 and mask[100, 3] == 0 and np.isin(mask, (0, 1)).all()


def test_people_pasted_on_clutter_lie_inside_their_boxes_and_keep_their_pixels():
    import numpy as np

    from fer_zoo.data.composite import compose_people

    photo, person = _studio_photo()
    people = [(photo, person)] * 3
    scene, boxes = compose_people(people, np.random.default_rng(0), scale=(1.0, 1.0))
    assert scene.shape == (360, 640, 3) and scene.dtype == np.uint8 and len(boxes) == 3
    for (x, _, w, _), (other, *_) in zip(boxes, boxes[1:]):
        assert x + w <= other  # side by side, no overlap
    for x, y, w, h in boxes:
        assert 0 <= x and x + w <= 640 and 0 <= y and y + h <= 360
        # scale 1: the person's skin at its centre is pasted unchanged; the box spans the person.
        assert np.abs(scene[y + 80 - person.nonzero()[0].min(), x + 70 - 30].astype(int) - (200, 140, 110)).max() <= 1
        assert (w, h) == (81, 190 - person.nonzero()[0].min())


def test_an_empty_cut_out_is_pasted_as_its_whole_rectangle():
    import numpy as np

    from fer_zoo.data.composite import compose_people

    photo, person = _studio_photo()
    _, boxes = compose_people([(photo, np.zeros_like(person))], np.random.default_rng(0), scale=(0.5, 0.5))
    assert boxes[0][2:] == (70, 95)  # the 140 x 190 photo at half size, not a crash on no pixels


def test_training_clutter_draws_other_shapes_than_the_benchmark_clutter():
    import numpy as np

    from fer_zoo.data.composite import clutter, compose_people, training_clutter

    rng = np.random.default_rng(0)
    first, second = training_clutter(rng), training_clutter(rng)
    assert first.shape == (360, 640, 3) and first.dtype == np.uint8 and not np.array_equal(first, second)
    assert training_clutter(np.random.default_rng(0), 200, 300).shape == (200, 300, 3)
    assert not np.array_equal(training_clutter(np.random.default_rng(1)), clutter(np.random.default_rng(1)))
    photo, person = _studio_photo()
    scene, _ = compose_people([(photo, person)], np.random.default_rng(0), background=training_clutter)
    default, _ = compose_people([(photo, person)], np.random.default_rng(0))
    assert scene.shape == default.shape and not np.array_equal(scene, default)


def test_person_masks_are_cached_and_the_face_on_the_head_is_picked(tmp_path):
    import cv2
    import numpy as np

    from fer_zoo.data.composite import head_face_box, person_mask

    photo, person = _studio_photo()
    path = tmp_path / "AF01NES.png"
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    first = person_mask(path, tmp_path / "masks")
    assert (tmp_path / "masks" / "AF01NES.npz").exists()
    np.testing.assert_array_equal(person_mask(path, tmp_path / "masks"), first)
    assert (first & person).sum() / (first | person).sum() > 0.95
    person_box = (100, 50, 80, 200)
    face, shoulder, elsewhere = (110, 60, 50, 50), (110, 190, 50, 50), (300, 60, 50, 50)
    assert head_face_box([elsewhere, shoulder, face], person_box) == face
    assert head_face_box([elsewhere, shoulder], person_box) is None
