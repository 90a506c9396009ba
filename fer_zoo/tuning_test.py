"""Tests of the keras-tuner hyper-models: knobs reach the model, a tiny search runs end to end."""

import numpy as np
import pytest

kt = pytest.importorskip("keras_tuner", reason="keras-tuner is the optional `tune` extra")

from fer_zoo import tuning  # noqa: E402


def _hp(**values):
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def test_search_spaces_cover_every_recipe_and_builder_knob():
    assert set(tuning.SEARCH_SPACES) == set(tuning.RECIPES) == set(tuning.OBJECTIVES)
    for recipe, knobs in tuning.SEARCH_SPACES.items():
        names = [k.name for k in knobs]
        assert len(names) == len(set(names)), recipe
        # Every space has at least one loss weight / learning rate and one code size choice.
        assert any("learning_rate" in n for n in names), recipe
        assert any(k.values for k in knobs), recipe


def test_unknown_knob_and_recipe_are_clear_errors():
    with pytest.raises(ValueError, match="unknown knob"):
        tuning.build_recipe("jpem", "small", not_a_knob=1.0)
    with pytest.raises(ValueError, match="Unknown recipe"):
        tuning.RecipeHyperModel(recipe="pix2pix")


def test_gasca_hyperparameters_change_loss_weight_learning_rates_and_code_size():
    hypermodel = tuning.RecipeHyperModel(recipe="gasca", config="small", image_size=16,
                                         knobs=["adversarial_weight", "g_learning_rate", "d_learning_rate"],
                                         fixed={"shifting_units": 16})
    small = hypermodel.build(_hp(adversarial_weight=0.02, g_learning_rate=1e-4, d_learning_rate=2e-4))
    large = tuning.RecipeHyperModel(recipe="gasca", config="small", image_size=16,
                                    fixed={"shifting_units": 36}).build(
        _hp(adversarial_weight=0.9, g_learning_rate=3e-3, d_learning_rate=4e-3))
    assert small.adversarial_weight == pytest.approx(0.02)
    assert large.adversarial_weight == pytest.approx(0.9)
    assert float(small.g_optimizer.learning_rate) == pytest.approx(1e-4)
    assert float(large.d_optimizer.learning_rate) == pytest.approx(4e-3)
    # The code grid is 4x4 vs 6x6 shifting units: more parameters in the larger code.
    assert large.generator.count_params() > small.generator.count_params()


def test_jpem_hyperparameters_reach_loss_weights_and_code_dim():
    hypermodel = tuning.RecipeHyperModel(recipe="jpem", config="small", image_size=16)
    hp = kt.HyperParameters()
    values = hypermodel.values(hp)  # registers every knob with its default
    assert set(values) == {k.name for k in tuning.SEARCH_SPACES["jpem"]}
    model = hypermodel.build(_hp(alpha=2.5, beta=0.05, classification_weight=0.3, att_adversarial_weight=0.02,
                                 learning_rate=5e-4, code_dim=20))
    assert (model.alpha, model.beta, model.classification_weight) == pytest.approx((2.5, 0.05, 0.3))
    assert model.code_dim == 20
    assert float(model.g_optimizer.learning_rate) == pytest.approx(5e-4)


def test_synthetic_batch_trains_one_step():
    model = tuning.build_recipe("gasca", "small", image_size=16, shifting_units=16)
    batch = tuning.synthetic_batch("gasca", "small", batch_size=4, image_size=16)
    assert batch[0].shape == (4, 16, 16, 1)
    before = [np.array(v) for v in model.generator.trainable_variables]
    model.build_optimizers()
    logs = model.train_step(batch)
    after = [np.array(v) for v in model.generator.trainable_variables]
    assert np.isfinite(float(logs["g_loss"]))
    assert any(not np.allclose(a, b) for a, b in zip(before, after))


@pytest.mark.slow
def test_two_trial_random_search_runs_end_to_end(tmp_path):
    result = tuning.tune(
        "gasca", data="synthetic", max_trials=2, out_dir=tmp_path / "search", image_size=16, epochs=1,
        steps_per_epoch=2, batch_size=8, identities=4, knobs=["adversarial_weight", "g_learning_rate"],
        fixed={"shifting_units": 16}, seed=1,
    )
    assert result["objective"] == ["val_reconstruction_loss", "min"]
    assert len(result["trials"]) == 2
    scores = [t["score"] for t in result["trials"]]
    assert all(s is not None and np.isfinite(s) for s in scores)
    # Two different draws of the search space, and the best is the lower validation loss.
    assert result["trials"][0]["hyperparameters"] != result["trials"][1]["hyperparameters"]
    assert result["best_score"] == pytest.approx(min(scores))
    assert set(result["best_hyperparameters"]) == {"adversarial_weight", "g_learning_rate"}


def test_relgan_hyperparameters_reach_loss_weights_and_expression_code():
    hypermodel = tuning.RecipeHyperModel(recipe="relgan", config="small", num_identities=5,
                                         knobs=["pixel", "learning_rate", "expression_dim"])
    model = hypermodel.build(_hp(pixel=7.0, learning_rate=2e-4, expression_dim=10))
    assert model.loss_weights["pixel"] == pytest.approx(7.0)
    assert model.network_config["expression_dim"] == 10
    assert int(model.expression_encoder.output.shape[-1]) == 10
    assert float(model.d_optimizer.learning_rate) == pytest.approx(2e-4)
    assert model.num_identities == 5
