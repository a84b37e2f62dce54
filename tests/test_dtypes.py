import pytest

from kvcalc.dtypes import KV_FORMATS, WEIGHT_FORMATS, kv_format, weight_format
from kvcalc.errors import UnknownNameError


@pytest.mark.parametrize(
    "name, n_values, expected",
    [
        ("fp32", 1024, 4096),  # 1,024 values x 4 bytes
        ("fp16", 1024, 2048),  # 1,024 values (8 KV heads x 128 dims) x 2 bytes
        ("bf16", 1024, 2048),
        ("fp8", 1024, 1024),  # 1,024 x 1 byte
        ("fp8_e5m2", 1024, 1024),
        ("int8", 1024, 1024),
        ("int4", 1024, 512),  # two values per byte
        ("q8_0", 1024, 1088),  # 32 blocks x 34 bytes
        ("q4_0", 1024, 576),  # 32 blocks x 18 bytes
        ("q4_1", 1024, 640),  # 32 blocks x 20 bytes
        ("q5_0", 1024, 704),  # 32 blocks x 22 bytes
        ("q5_1", 1024, 768),  # 32 blocks x 24 bytes
        ("iq4_nl", 1024, 576),  # 32 blocks x 18 bytes
    ],
)
def test_row_bytes(name, n_values, expected):
    assert kv_format(name).row_bytes(n_values) == expected


@pytest.mark.parametrize(
    "alias, name",
    [
        ("f16", "fp16"),
        ("FP8", "fp8_e4m3"),
        ("e5m2", "fp8_e5m2"),
        ("float32", "fp32"),
        ("BF16", "bf16"),
        ("fp8-e4m3", "fp8_e4m3"),
    ],
)
def test_aliases(alias, name):
    assert kv_format(alias).name == name


def test_unknown_format_suggests():
    with pytest.raises(UnknownNameError) as err:
        kv_format("fp9")
    assert "fp8" in str(err.value)


def test_weight_bits():
    # 8,030,261,248 weights x 2 bytes = 16,060,522,496
    assert weight_format("bf16").weight_bytes(8_030_261_248) == 16_060_522_496
    # q4_0: 18 bytes per 32 weights -> 32 weights take 18 bytes
    assert weight_format("q4_0").weight_bytes(32) == 18
    # q8_0: 34 bytes per 32 weights
    assert weight_format("q8_0").weight_bytes(64) == 68
    # q4_k_m: 4.84 bits -> 100 weights = 60.5 bytes -> 61 (rounded up)
    assert weight_format("q4_k_m").weight_bytes(100) == 61


def test_every_format_is_positive():
    assert all(f.block_bytes > 0 and f.block_values > 0 for f in KV_FORMATS.values())
    assert all(f.bits_per_weight > 0 for f in WEIGHT_FORMATS.values())
