import sys
import types

import pytest

from fer_zoo.zoo import _testing, loading, registry


@pytest.fixture
def empty_registry(monkeypatch):
    """A registry with no collected presets, restored afterwards."""
    monkeypatch.setattr(registry, "_ARCHITECTURES", {})
    monkeypatch.setattr(registry, "_PRESETS", {})
    monkeypatch.setattr(registry, "_SOURCES", {})
    monkeypatch.setattr(registry, "_collected", False)
    monkeypatch.setattr(registry, "RECIPE_PRESET_MODULES", ())
    monkeypatch.delenv(registry.EXTRA_PRESETS_ENV, raising=False)
    return registry


def _module(name, architectures=None, presets=None):
    module = types.ModuleType(name)
    module.ARCHITECTURES = architectures or {}
    module.PRESETS = presets or {}
    return module


def test_documented_dict_schema_registers_and_lists(empty_registry, monkeypatch):
    module = _module(
        "fake_presets",
        {_testing.TINY_ARCHITECTURE: _testing.build_tiny_classifier},
        {"tiny_a": _testing.tiny_preset(), "tiny_gen": _testing.tiny_preset(task="generation")},
    )
    monkeypatch.setattr(registry, "RECIPE_PRESET_MODULES", ("fake_presets",))
    monkeypatch.setitem(sys.modules, "fake_presets", module)
    assert registry.list_models() == ["tiny_a", "tiny_gen"]
    assert registry.list_models(task="classification") == ["tiny_a"]
    assert registry.list_models(include_architectures=True) == [
        "tiny_a", "tiny_gen", _testing.TINY_ARCHITECTURE,
    ]
    info = registry.model_info("tiny_a")
    assert info["name"] == "tiny_a"
    assert info["class_names"] == list(_testing.EXPRESSIONS)
    assert info["input_size"] == [16, 16]
    assert info["source"] == "fake_presets"
    assert info["pretrained"] is False


def test_unknown_name_lists_available_and_suggests(empty_registry):
    registry.register_architecture(_testing.TINY_ARCHITECTURE, _testing.build_tiny_classifier)
    registry.register_preset("gasca_tiny", _testing.tiny_preset())
    with pytest.raises(registry.UnknownModelError) as error:
        registry.model_info("gasca_tiyn")
    message = str(error.value)
    assert "Unknown model 'gasca_tiyn'" in message
    assert "Did you mean 'gasca_tiny'" in message
    assert "Available presets: gasca_tiny" in message


@pytest.mark.parametrize(
    "change, match",
    [
        ({"architecture": "nope"}, "not registered"),
        ({"config": None}, "config"),
        ({"weights": "x.weights.h5", "sha256": None}, "without a sha256"),
    ],
)
def test_invalid_presets_are_rejected(empty_registry, change, match):
    registry.register_architecture(_testing.TINY_ARCHITECTURE, _testing.build_tiny_classifier)
    preset = dict(_testing.tiny_preset(), **change)
    with pytest.raises((ValueError, TypeError), match=match):
        registry.register_preset("bad", preset)
    assert "bad" not in registry.list_models()


def test_missing_metadata_and_duplicates_are_rejected(empty_registry):
    registry.register_architecture(_testing.TINY_ARCHITECTURE, _testing.build_tiny_classifier)
    preset = _testing.tiny_preset()
    del preset["metadata"]["class_names"]
    with pytest.raises(ValueError, match="class_names"):
        registry.register_preset("no_classes", preset)
    registry.register_preset("once", _testing.tiny_preset())
    with pytest.raises(ValueError, match="already registered"):
        registry.register_preset("once", _testing.tiny_preset())


def test_missing_presets_module_is_skipped_but_real_import_errors_propagate(
    empty_registry, monkeypatch, tmp_path
):
    (tmp_path / "broken_presets_pkg.py").write_text("import a_dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        registry, "RECIPE_PRESET_MODULES", ("fer_zoo.zoo.not_written_yet_presets",)
    )
    assert registry.list_models() == []  # the missing module itself is tolerated
    monkeypatch.setattr(registry, "_collected", False)
    monkeypatch.setattr(
        registry, "RECIPE_PRESET_MODULES",
        ("fer_zoo.zoo.not_written_yet_presets", "broken_presets_pkg"),
    )
    with pytest.raises(ModuleNotFoundError, match="a_dependency_that_is_not_installed") as error:
        registry.list_models()
    assert error.value.__notes__ == ["while importing the presets module broken_presets_pkg"]


def test_extra_presets_env_registers_user_module(empty_registry, monkeypatch):
    module = _module(
        "my_presets",
        {_testing.TINY_ARCHITECTURE: _testing.build_tiny_classifier},
        {"my_finetuned": _testing.tiny_preset()},
    )
    monkeypatch.setitem(sys.modules, "my_presets", module)
    monkeypatch.setattr(registry, "RECIPE_PRESET_MODULES", ())
    monkeypatch.setenv(registry.EXTRA_PRESETS_ENV, "my_presets")
    assert registry.list_models() == ["my_finetuned"]


def test_shipped_presets_are_valid_and_their_weights_match_sha256():
    # The real recipe presets (those written so far): package data present, hashes right.
    for name in registry.list_models():
        preset = registry.get_preset(name)
        assert preset["architecture"] in registry.architectures(), name
        if preset["weights"] is None or loading.is_url(preset["weights"]):
            continue
        path = registry.WEIGHTS_DIR / preset["weights"]
        assert path.exists(), f"{name}: {path} is not in the package"
        assert loading.sha256(path) == preset["sha256"].lower(), f"{name}: hash mismatch"
