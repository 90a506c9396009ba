import pytest

from fer_zoo.zoo import _testing


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny registered classifier (16x16 grey, 7 classes), loaded through the registry."""
    with _testing.registered_tiny_model("zoo_test_tiny", tmp_path_factory.mktemp("tiny")) as model:
        yield model
