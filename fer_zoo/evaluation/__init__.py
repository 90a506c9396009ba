"""Evaluation tools shared by the recipes' gates: the SynthFER expression judge
(`fer_zoo.evaluation.judge`) and mean +- std over seeds or folds (`fer_zoo.evaluation.aggregate`)."""

__all__ = ["ExpressionJudge", "load_judge", "train_judge"]


def __getattr__(name):
    # Lazy, so `python -m fer_zoo.evaluation.judge` does not import the module twice.
    if name in __all__:
        from fer_zoo.evaluation import judge

        return getattr(judge, name)
    raise AttributeError(f"module 'fer_zoo.evaluation' has no attribute {name!r}")
