"""Byte units and strict parsers.  GB = 10**9 and GiB = 2**30, everywhere.

Everything here returns Python ints: a size or a count never becomes a float.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

from kvcalc.limits import MAX_NUMBER_DIGITS

KB, MB, GB, TB, PB = (10**3, 10**6, 10**9, 10**12, 10**15)
KiB, MiB, GiB, TiB, PiB = (2**10, 2**20, 2**30, 2**40, 2**50)

# Memory sizes (`--mem 24GB`).  Case-insensitive, and a trailing b/B means bytes
# either way ("24gb" is 24 GB; nobody sizes GPUs in bits).  The bare SI letters
# follow Kubernetes quantities: 24G = 24 * 10**9, 24Gi = 24 * 2**30.
_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": KB,
    "kb": KB,
    "m": MB,
    "mb": MB,
    "g": GB,
    "gb": GB,
    "t": TB,
    "tb": TB,
    "p": PB,
    "pb": PB,
    "ki": KiB,
    "kib": KiB,
    "mi": MiB,
    "mib": MiB,
    "gi": GiB,
    "gib": GiB,
    "ti": TiB,
    "tib": TiB,
    "pi": PiB,
    "pib": PiB,
}
SIZE_FORMS = "B, KB/MB/GB/TB/PB or K/M/G/T/P (x1000), KiB/MiB/GiB/TiB/PiB or Ki/Mi/Gi/Ti/Pi (x1024)"

# One grammar for every number kvcalc reads (--seq, --mem, --util, sizes in YAML, claims):
# ASCII digits, grouped at most by single underscores between digits (1_000_000), and, where
# a fraction makes sense, one decimal point with digits on both sides.  No sign, exponent,
# full-width digit, NaN or infinity: Python's int() and Decimal() take '０.９', '1e-100000000'
# and '2__048', and the last two cost time or mean something else.  re.ASCII keeps \s and
# [0-9] to ASCII.
DIGITS = r"[0-9]+(?:_[0-9]+)*"
DECIMAL = rf"{DIGITS}(?:\.{DIGITS})?"
_SIZE_RE = re.compile(rf"^\s*({DECIMAL})\s*([A-Za-z]*)\s*$", re.ASCII)

# Token and request counts (`--seq 32k`) follow the serving-engine convention:
# lowercase k/m are decimal (32k = 32,000), uppercase K/M are binary (32K = 32,768).
_COUNT_UNITS: dict[str, int] = {"": 1, "k": 10**3, "m": 10**6, "K": 2**10, "M": 2**20}
_COUNT_RE = re.compile(rf"^\s*({DIGITS})\s*([kmKM]?)\s*$", re.ASCII)
_WHOLE_RE = re.compile(rf"^\s*({DIGITS})\s*$", re.ASCII)
_FRACTION_RE = re.compile(rf"^\s*({DECIMAL})\s*$", re.ASCII)
NUMBER_FORMS = "ASCII digits, single underscores between them allowed (1_000_000)"


class UnitError(ValueError):
    """A size or count string that does not parse; the message lists valid forms."""


def _check_length(text: str) -> str:
    # counted before any regex runs, so a megabyte of digits is refused at once
    shown = str(text)
    if len(shown) > 2 * MAX_NUMBER_DIGITS or sum(ch.isdigit() for ch in shown) > MAX_NUMBER_DIGITS:
        raise UnitError(f"{shown[:20]}...: more than {MAX_NUMBER_DIGITS} digits")
    return shown


def _decimal(digits: str) -> Decimal:
    # the grammar admits only ASCII digits, '_' between them and one '.': exact and bounded
    return Decimal(digits.replace("_", ""))


def parse_bytes(text: str) -> int:
    """Parse a memory size to integer bytes; a unit is required (0 needs none).

    >>> parse_bytes("24GB"), parse_bytes("24GiB"), parse_bytes("1.5 TB")
    (24000000000, 25769803776, 1500000000000)
    """
    shown = _check_length(text)
    match = _SIZE_RE.match(shown)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise UnitError(
            f"cannot read size {shown!r}: use a number ({NUMBER_FORMS}; one optional "
            f"decimal point) and a unit: {SIZE_FORMS}"
        )
    value = _decimal(match.group(1)) * _SIZE_UNITS[unit]
    if unit == "" and value != 0:
        # '--mem 24' would otherwise mean 24 bytes: nobody means that, so say so
        raise UnitError(
            f"size {shown.strip()!r} has no unit: write {match.group(1)}GB (x10^9) or "
            f"{match.group(1)}GiB (x2^30), or {match.group(1)}B for bytes"
        )
    if value != value.to_integral_value():
        raise UnitError(f"size {shown!r} is not a whole number of bytes")
    return int(value)


def parse_printed_bytes(text: str) -> int:
    """A size as an engine prints it, to the nearest byte: vLLM's 'Model loading took
    7.51 GiB' is 8,063,706,193.92 B, read as 8,063,706,194.

    >>> parse_printed_bytes("7.51GiB")
    8063801098
    """
    _check_length(text)
    match = _SIZE_RE.match(str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise UnitError(f"cannot read size {text!r}: use a number and one of {SIZE_FORMS}")
    value = Decimal(match.group(1).replace("_", "")) * _SIZE_UNITS[unit]
    return int(value.to_integral_value())


def parse_count(text: str) -> int:
    """Parse a token or request count: plain digits, or k/m (x1000) and K/M (x1024).

    >>> parse_count("2048"), parse_count("32k"), parse_count("32K")
    (2048, 32000, 32768)
    """
    shown = _check_length(text)
    match = _COUNT_RE.match(shown)
    if match is None:
        raise UnitError(
            f"cannot read count {shown!r}: use a whole number ({NUMBER_FORMS}), optionally "
            "with k/m (x1000) or K/M (x1024), e.g. 2048, 32k, 32K"
        )
    return int(match.group(1).replace("_", "")) * _COUNT_UNITS[match.group(2)]


def parse_whole(text: str) -> int:
    """Parse a plain whole number (no k/m suffix): --tp, --pp, --kv-heads, ...

    >>> parse_whole("8"), parse_whole("1_024")
    (8, 1024)
    """
    shown = _check_length(text)
    match = _WHOLE_RE.match(shown)
    if match is None:
        raise UnitError(f"cannot read whole number {shown!r}: use {NUMBER_FORMS}")
    return int(match.group(1).replace("_", ""))


def parse_fraction(text: str) -> Fraction:
    """Parse a plain decimal such as '0.9' exactly (no float rounding, no exponent).

    >>> parse_fraction("0.9")
    Fraction(9, 10)
    """
    shown = _check_length(text)
    match = _FRACTION_RE.match(shown)
    if match is None:
        raise UnitError(
            f"cannot read number {shown!r}: use a plain decimal such as 0.9 ({NUMBER_FORMS}; "
            "no exponent or sign)"
        )
    return Fraction(_decimal(match.group(1)))


def fixed(numerator: int | Fraction, unit: int, places: int = 2) -> str:
    """Exact decimal rendering of numerator/unit, rounded half-even.

    >>> fixed(21474836480, GB), fixed(21474836480, GiB)
    ('21.47', '20.00')
    """
    scaled = round(Fraction(numerator) / unit * 10**places)
    sign = "-" if scaled < 0 else ""
    whole, frac = divmod(abs(scaled), 10**places)
    return f"{sign}{whole:,}.{frac:0{places}d}" if places else f"{sign}{whole:,}"


def format_bytes(n_bytes: int, unit: str = "GB", places: int = 2) -> str:
    """Render bytes in one named unit, the unit always shown.

    >>> format_bytes(21474836480, "GB"), format_bytes(21474836480, "GiB")
    ('21.47 GB', '20.00 GiB')
    """
    if unit == "B":
        return f"{n_bytes:,} B"
    return f"{fixed(n_bytes, _UNIT_BY_NAME[unit], places)} {unit}"


_UNIT_BY_NAME = {
    "KB": KB,
    "MB": MB,
    "GB": GB,
    "TB": TB,
    "PB": PB,
    "KiB": KiB,
    "MiB": MiB,
    "GiB": GiB,
    "TiB": TiB,
    "PiB": PiB,
}


def auto_unit(n_bytes: int, binary: bool = False) -> str:
    """The largest unit in which n_bytes is at least 1 (GB-family or GiB-family)."""
    names = ("KiB", "MiB", "GiB", "TiB", "PiB") if binary else ("KB", "MB", "GB", "TB", "PB")
    chosen = names[0]
    for name in names:
        if abs(n_bytes) >= _UNIT_BY_NAME[name]:
            chosen = name
    return chosen


def unit_bytes(unit: str) -> int:
    """Bytes in one named size unit, as parse_bytes reads it: 'GB' -> 10^9, 'MiB' -> 2^20."""
    key = unit.strip().lower()
    if key not in _SIZE_UNITS:
        raise UnitError(f"unknown size unit {unit!r}: use one of {SIZE_FORMS}")
    return _SIZE_UNITS[key]


def plural(n: int, word: str) -> str:
    """'1 request', '8 requests': a count in words, for messages and explanations."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"
