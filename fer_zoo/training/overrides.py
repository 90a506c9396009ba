"""`--set KEY=VALUE` command-line overrides, shared by `fer-zoo` and the recipes' own modules."""

import json


def parse_value(text):
    """A `--set` value: JSON when it parses (numbers, true/false, lists, dicts), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(pairs):
    """`{key: parse_value(value)}` for `["key=value", ...]` (None: `{}`).

    Raises:
        ValueError: a pair without `=` or with an empty key.
    """
    overrides = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {pair!r}.")
        overrides[key.strip()] = parse_value(value)
    return overrides
