"""Strict reading of the values in a config.json: a field is absent or valid, never misread.

The rules (issue 12): a field that is missing or JSON null is absent, and the caller
decides what absent means (MHA when there is no num_key_value_heads); a field that is
present must be valid, or the import stops with one line naming the file and the field.
Never a fallback to the next alias or a default, never int() of whatever was written:
int(2.5) is 2, int(True) is 1, int(float('nan')) raises, '4096' was ignored.

- an integer field takes a JSON integer: not a bool, not a float (not even 128.0: no real
  config.json writes an integer field as a float; a search of public configs found none),
  not NaN/Infinity, not a string; within the bounds of limits.py, checked before anything
  is built from it;
- the one deliberate exception: `sliding_window` may be a string of digits, because
  Mistral's params.json sometimes writes it so and converters copy it through
  (transformers, src/transformers/models/mistral/convert_mistral_weights_to_hf.py,
  convert_config: "This may sometimes be a string in `params.json`", then int() of it);
- a boolean field takes true or false, not 0/1 or "yes".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from kvcalc.errors import SpecError
from kvcalc.limits import MAX_NUMBER_DIGITS

STRING_NUMBER_FIELDS = frozenset({"sliding_window"})
_PLAIN_DIGITS = re.compile(rf"[0-9]{{1,{MAX_NUMBER_DIGITS}}}", re.ASCII)
"""Integer fields that real exports also write as a string of digits (see above)."""


def shown(value: Any) -> str:
    """A value as the JSON file wrote it: NaN, Infinity, 2.5, true, "two" (cut when long)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Fields:
    """Typed, strict access to one config.json object.

    `nested` names the keys that came from text_config, so an error names
    'text_config.num_key_value_heads' where that is what the file says.
    """

    def __init__(self, data: Mapping[str, Any], origin: str, nested: frozenset[str] = frozenset()):
        self.data = data
        self.origin = origin
        self.nested = nested

    def name(self, key: str) -> str:
        return f"text_config.{key}" if key in self.nested else key

    def fail(self, key: str, problem: str) -> SpecError:
        return SpecError(f"{self.origin}: {self.name(key)} {problem}")

    def first(self, *keys: str) -> str | None:
        """The first of `keys` present (not missing, not null): the one that is read."""
        for key in keys:
            if self.data.get(key) is not None:
                return key
        return None

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def whole(
        self,
        *keys: str,
        low: int = 1,
        high: int,
        required: bool = False,
    ) -> int | None:
        """The first present of `keys` as an int in [low, high]; None when all are absent."""
        key = self.first(*keys)
        if key is None:
            if required:
                raise SpecError(f"{self.origin}: needs a positive integer {' / '.join(keys)}")
            return None
        value = self.data[key]
        if isinstance(value, str) and key in STRING_NUMBER_FIELDS:
            # exactly what params.json writes ("4096"): no sign, space, underscore or '.0'
            if not _PLAIN_DIGITS.fullmatch(value):
                raise self.fail(key, f"must be a whole number, got {shown(value)}")
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            what = "a positive integer" if low >= 1 else "a whole number"
            raise self.fail(key, f"must be {what}, got {shown(value)}")
        if value < low:
            raise self.fail(key, f"must be at least {low}, got {value:,}")
        if value > high:
            raise self.fail(key, f"{value:,} is over kvcalc's limit of {high:,}")
        return value

    def need(self, *keys: str, low: int = 1, high: int) -> int:
        value = self.whole(*keys, low=low, high=high, required=True)
        assert value is not None
        return value

    def flag(self, key: str, default: bool) -> bool:
        """true or false; absent (or null) is `default`."""
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {shown(value)}")
        return value

    def text(self, *keys: str) -> str | None:
        key = self.first(*keys)
        if key is None:
            return None
        value = self.data[key]
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {shown(value)}")
        return value
