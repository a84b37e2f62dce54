import pytest
from pydantic import ValidationError

from tests.conftest import make_spec


def test_head_dim_defaults_to_hidden_over_heads():
    spec = make_spec()  # 512 hidden / 8 heads = 64
    assert spec.k_head_dim == 64 and spec.resolved_v_head_dim == 64


def test_explicit_head_dims():
    # Qwen3-32B style: head_dim 128 although 5120 / 64 = 80
    spec = make_spec(hidden_size=5120, num_query_heads=64, num_kv_heads=8, head_dim=128)
    assert spec.k_head_dim == 128
    spec = make_spec(head_dim=192, v_head_dim=128)
    assert (spec.k_head_dim, spec.resolved_v_head_dim) == (192, 128)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_kv_heads": 3}, "not divisible by 3 KV heads"),
        ({"hidden_size": 500}, "give head_dim explicitly"),
        ({"num_layers": 0}, "greater than 0"),
        ({"num_kv_heads": -1}, "greater than or equal to 0"),
        ({"num_kv_heads": 0}, "must be at least 1 when a layer keeps K/V per head"),
        ({"bogus": 1}, "Extra inputs are not permitted"),
        ({"weight_dtype": "fp9"}, "unknown weight format"),
        ({"id": "Has Spaces"}, "should match pattern"),
        ({"sliding_window": 0}, "greater than 0"),
        ({"layers": [{"kind": "full", "count": 3}]}, "add up to 3, not num_layers 4"),
        ({"layers": [{"kind": "sliding", "count": 4}]}, "Field required"),
        ({"layers": [{"kind": "full", "count": 4, "num_kv_heads": 3}]}, "not divisible by 3"),
        ({"layers": [{"kind": "mystery", "count": 4}]}, "does not match any of the expected tags"),
        ({"sliding_window": 16, "layers": [{"kind": "full", "count": 4}]}, "per layer group"),
    ],
)
def test_invalid_specs(overrides, message):
    with pytest.raises(ValidationError) as err:
        make_spec(**overrides)
    assert message in str(err.value)


def test_repeat_groups():
    spec = make_spec(
        num_layers=8,
        layers=[
            {
                "kind": "repeat",
                "times": 2,
                "layers": [
                    {"kind": "sliding", "count": 3, "window": 16},
                    {"kind": "full", "count": 1},
                ],
            }
        ],
    )
    assert [(g.kind, g.count) for g in spec.cache_groups()] == [
        ("sliding", 3),
        ("full", 1),
        ("sliding", 3),
        ("full", 1),
    ]


def test_huge_repeat_is_refused_without_unrolling():
    # 10**12 layers would exhaust memory if unrolled before the count check; the raw
    # group count (limits.MAX_LAYER_GROUPS) refuses it before pydantic builds anything
    with pytest.raises(ValidationError, match="1,000,001 layer groups once repeats are unrolled"):
        make_spec(
            num_layers=8,
            layers=[{"kind": "repeat", "times": 10**12, "layers": [{"kind": "full", "count": 1}]}],
        )
    with pytest.raises(ValidationError, match="less than or equal to 1000000"):
        make_spec(num_layers=10**12)


@pytest.mark.parametrize(
    "group, message",
    [
        ({"kind": "mamba", "count": 4, "d_inner": 64, "d_state": 16}, "d_conv"),
        (
            {
                "kind": "mamba",
                "count": 4,
                "d_inner": 64,
                "d_state": 16,
                "d_conv": 4,
                "state_dtype": "q8_0",
            },
            "plain format",
        ),
        (
            {
                "kind": "gated_deltanet",
                "count": 4,
                "num_k_heads": 2,
                "num_v_heads": 2,
                "head_k_dim": 8,
                "head_v_dim": 8,
                "conv_kernel": 0,
            },
            "greater than 0",
        ),
    ],
)
def test_invalid_state_groups(group, message):
    with pytest.raises(ValidationError, match=message):
        make_spec(layers=[group])


def test_spec_is_frozen():
    spec = make_spec()
    with pytest.raises(ValidationError):
        spec.num_kv_heads = 8  # type: ignore[misc]


@pytest.mark.parametrize(
    "util, ok", [("0.75", True), (1, True), ("0", False), ("1.5", False), ("most", False)]
)
def test_hardware_default_util_is_checked_at_load(util, ok):
    from kvcalc.spec import HardwareSpec

    fields = {
        "id": "x",
        "name": "X",
        "kind": "unified",
        "memory_bytes": "64GiB",
        "default_util": util,
    }
    if ok:
        assert HardwareSpec.model_validate(fields).memory_bytes == 64 * 2**30
    else:
        with pytest.raises(ValidationError, match="default_util"):
            HardwareSpec.model_validate(fields)
