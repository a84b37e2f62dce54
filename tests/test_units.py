from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvcalc.units import (
    GB,
    GiB,
    UnitError,
    fixed,
    format_bytes,
    parse_bytes,
    parse_count,
    parse_fraction,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("24GB", 24 * 10**9),
        ("24gb", 24 * 10**9),
        ("24Gb", 24 * 10**9),  # the case of the B is ignored: bytes, not bits
        ("24 GB", 24 * 10**9),
        ("24G", 24 * 10**9),  # Kubernetes-style SI suffix
        ("24GiB", 24 * 2**30),
        ("24Gi", 24 * 2**30),
        ("24gib", 24 * 2**30),
        ("81559MiB", 81559 * 2**20),  # H100 80GB as nvidia-smi reports it
        ("1.5TB", 1_500_000_000_000),
        ("0.5GiB", 2**29),
        ("0", 0),  # zero is zero in any unit: the one size that needs none
        ("512B", 512),
        ("1KB", 1000),
        ("1KiB", 1024),
        ("1K", 1000),
        ("1Ki", 1024),
        ("2TiB", 2 * 2**40),
        ("1PB", 10**15),
        ("1_000MB", 10**9),
    ],
)
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "GB", "24 XB", "24GBs", "-1GB", "1e9", "0.3B", "24 G B", "abc", "1_GB", "1__0GB",
     "_1GB", "1.GB", ".5GB", "\uff12\uff14GB", "24\u00a0GB", "NaN GB", "inf GB", "+1GB"],
)  # fmt: skip
def test_parse_bytes_refuses_with_valid_forms(text):
    with pytest.raises(UnitError) as err:
        parse_bytes(text)
    assert "GB" in str(err.value) or "whole number" in str(err.value)


@pytest.mark.parametrize("text", ["24", "512", "1_000", "0.5"])
def test_a_size_needs_a_unit(text):
    # '--mem 24' read as 24 bytes answered a question nobody asked: refused with the fix
    with pytest.raises(UnitError, match="has no unit: write .*GB .* or .*GiB"):
        parse_bytes(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2048", 2048),
        ("32k", 32_000),
        ("32K", 32_768),
        ("1m", 1_000_000),
        ("1M", 1_048_576),
        ("128K", 131_072),
        ("0", 0),
        ("10_000", 10_000),
    ],
)
def test_parse_count(text, expected):
    assert parse_count(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1.5k", "-3", "32kb", "32 KB", "1e3", "2g", "2__048", "2048_", "_2048",
     "\uff12\uff10\uff14\uff18", "\u0662\u0660", "+5", "0x10", "1 000"],
)  # fmt: skip
def test_parse_count_refuses(text):
    # full-width and Arabic-Indic digits, doubled or dangling underscores: int() takes
    # some of these; the one grammar takes none
    with pytest.raises(UnitError):
        parse_count(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.9", Fraction(9, 10)),
        ("1", 1),
        (" 0.75 ", Fraction(3, 4)),
        ("0.000_1", Fraction(1, 10**4)),
    ],  # noqa: E501
)
def test_parse_fraction(text, expected):
    assert parse_fraction(text) == expected


@pytest.mark.parametrize(
    "text",
    ["1e-100000000", "1E9", "NaN", "Infinity", "-0.5", "+0.5", ".9", "1.", "\uff10.\uff19",
     "0,9", "0..9", "", "9" * 31, "0." + "0" * 40 + "1"],
)  # fmt: skip
def test_parse_fraction_refuses_before_any_arithmetic(text):
    # Decimal('1e-100000000') is cheap but Fraction of it has a 10^8-digit denominator:
    # the grammar (no exponent, at most 30 digits) refuses it before anything is built
    with pytest.raises(UnitError):
        parse_fraction(text)


@pytest.mark.parametrize(
    "n, unit, text",
    [
        (21_474_836_480, "GB", "21.47 GB"),  # 21,474,836,480 / 10^9
        (21_474_836_480, "GiB", "20.00 GiB"),  # 21,474,836,480 / 2^30 = 20 exactly
        (171_798_691_840, "GB", "171.80 GB"),
        (2_684_354_560, "GiB", "2.50 GiB"),
        (536_870_912, "MiB", "512.00 MiB"),
        (1_234, "B", "1,234 B"),
    ],
)
def test_format_bytes(n, unit, text):
    assert format_bytes(n, unit) == text


def test_fixed_rounds_half_even_exactly():
    assert fixed(1_005, 1000) == "1.00"  # 1.005 exactly: half-even keeps 1.00
    assert fixed(1_015, 1000) == "1.02"


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["GB", "GiB", "MB", "TiB", "B"]))
def test_parse_bytes_of_whole_numbers_is_exact(n, unit):
    factor = {"GB": GB, "GiB": GiB, "MB": 10**6, "TiB": 2**40, "B": 1}[unit]
    assert parse_bytes(f"{n}{unit}") == n * factor
