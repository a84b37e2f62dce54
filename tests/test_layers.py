import pytest

from kvcalc.deploy import split_stages
from kvcalc.errors import UsageError
from kvcalc.layers import (
    FullAttention,
    LayerGroup,
    SlidingWindow,
    expand,
    heads_per_rank,
)
from tests.conftest import FP16, make_spec


def test_full_layer_bytes():
    layer = FullAttention(num_kv_heads=8, k_head_dim=128, v_head_dim=128)
    assert layer.tokens_held(10_000) == 10_000
    assert layer.k_token_bytes(FP16) == 8 * 128 * 2 == 2048


def test_k_and_v_widths_may_differ():
    layer = FullAttention(num_kv_heads=4, k_head_dim=192, v_head_dim=128)
    assert layer.k_token_bytes(FP16) == 4 * 192 * 2
    assert layer.v_token_bytes(FP16) == 4 * 128 * 2


def test_sliding_layer_caps_at_window():
    layer = SlidingWindow(8, 128, 128, window=4096)
    assert [layer.tokens_held(s) for s in (1, 4095, 4096, 4097, 32768)] == [
        1,
        4095,
        4096,
        4096,
        4096,
    ]


def test_latent_layer():
    from kvcalc.layers import LatentAttention

    layer = LatentAttention(kv_lora_rank=512, qk_rope_head_dim=64)
    assert (layer.k_token_bytes(FP16), layer.v_token_bytes(FP16)) == (576 * 2, 0)
    assert layer.tokens_held(5000) == 5000 and layer.saturates_at is None
    assert layer.shard(8) == layer and layer.with_kv_heads(4) == layer  # replicated, not split


def test_expand_uniform_and_sliding():
    assert expand(make_spec()) == (LayerGroup(FullAttention(2, 64, 64), 4),)
    assert expand(make_spec(sliding_window=16)) == (LayerGroup(SlidingWindow(2, 64, 64, 16), 4),)


def test_expand_groups_and_override():
    spec = make_spec(
        layers=[
            {"kind": "sliding", "count": 3, "window": 16},
            {"kind": "full", "count": 1, "num_kv_heads": 4},
        ]
    )
    assert expand(spec) == (
        LayerGroup(SlidingWindow(2, 64, 64, 16), 3),
        LayerGroup(FullAttention(4, 64, 64), 1),
    )
    assert [g.cache.num_kv_heads for g in expand(spec, 8)] == [8, 8]


@pytest.mark.parametrize(
    "heads, tp, per_rank", [(8, 1, 8), (8, 2, 4), (8, 8, 1), (8, 16, 1), (1, 4, 1), (64, 8, 8)]
)
def test_heads_per_rank(heads, tp, per_rank):
    assert heads_per_rank(heads, tp) == per_rank


def test_heads_per_rank_refuses_uneven_split():
    with pytest.raises(UsageError, match="must divide"):
        heads_per_rank(8, 3)


@pytest.mark.parametrize(
    "layers, pp, sizes",
    [(80, 3, [27, 27, 26]), (61, 4, [15, 15, 16, 15]), (32, 2, [16, 16]), (5, 5, [1, 1, 1, 1, 1])],
)
def test_split_stages_follows_vllm(layers, pp, sizes):
    stages = split_stages((LayerGroup(FullAttention(1, 1, 1), layers),), pp)
    assert [sum(g.count for g in stage) for stage in stages] == sizes


def test_split_stages_keeps_layer_order_across_groups():
    a, b = FullAttention(1, 1, 1), SlidingWindow(1, 1, 1, 4)
    stages = split_stages((LayerGroup(a, 3), LayerGroup(b, 3)), 2)
    assert stages == [(LayerGroup(a, 3),), (LayerGroup(b, 3),)]
    stages = split_stages((LayerGroup(a, 3), LayerGroup(b, 3)), 3)
    assert stages == [
        (LayerGroup(a, 2),),
        (LayerGroup(a, 1), LayerGroup(b, 1)),
        (LayerGroup(b, 2),),
    ]


def test_split_stages_refuses_too_many_stages():
    with pytest.raises(UsageError):
        split_stages((LayerGroup(FullAttention(1, 1, 1), 4),), 5)
