"""Tiny GGUFs whose cache is not plain K/V per head: MLA latents and recurrent state.

deepseek2 comes in the two layouts llama.cpp still loads (src/models/deepseek2.cpp):
the current converter's MQA view of the latent (key_length_mla/value_length_mla present,
split attn_k_b/attn_v_b), and the legacy one (no *_mla keys, one attn_kv_b), which
llama.cpp caches as full per-head K and V.  The recurrent builders write exactly what
convert_hf_to_gguf.py writes, e.g. Mamba's head_count 0.
"""

from __future__ import annotations

from pathlib import Path

from .archs_attention import mlp, qkv
from .gguf_tiny import TinyGGUF


def deepseek2(
    path: Path,
    legacy: bool = False,
    n_layer: int = 4,
    n_head: int = 4,
    n_embd: int = 128,
    kv_lora: int = 64,
    qk_nope: int = 32,
    qk_rope: int = 32,
    v_dim: int = 48,
    n_ff: int = 96,
) -> TinyGGUF:
    """DeepSeek-V2-style MLA with dense MLPs only (leading_dense_block_count = n_layer)."""
    g = TinyGGUF(path, "deepseek2", n_layer, n_embd)
    k_mla = qk_nope + qk_rope  # one head's full K: the no-RoPE part and the RoPE part
    g.key("attention.head_count", n_head)
    if legacy:
        # pre-2025 converter: per-head sizes, so llama.cpp sees ordinary MHA
        g.key("attention.head_count_kv", n_head)
        g.key("attention.key_length", k_mla)
        g.key("attention.value_length", v_dim)
    else:
        # current converter: one "KV head" holding the latent and the shared RoPE key
        g.key("attention.head_count_kv", 1)
        g.key("attention.key_length", kv_lora + qk_rope)
        g.key("attention.value_length", kv_lora)
        g.key("attention.key_length_mla", k_mla)
        g.key("attention.value_length_mla", v_dim)
    g.key("rope.dimension_count", qk_rope)
    g.key("attention.layer_norm_rms_epsilon", 1e-5)
    g.key("attention.q_lora_rank", 0)  # required unless a "lite" layer count; 0 = plain wq
    g.key("attention.kv_lora_rank", kv_lora)
    g.key("leading_dense_block_count", n_layer)
    g.key("feed_forward_length", n_ff)
    g.key("expert_feed_forward_length", n_ff)
    g.key("expert_shared_count", 0)
    g.embeddings()
    for i in range(n_layer):
        p = f"blk.{i}."
        g.norm(p + "attn_norm.weight", n_embd)
        g.norm(p + "attn_kv_a_norm.weight", kv_lora)
        g.tensor(p + "attn_q.weight", n_embd, n_head * k_mla)
        g.tensor(p + "attn_kv_a_mqa.weight", n_embd, kv_lora + qk_rope)
        if legacy:
            g.tensor(p + "attn_kv_b.weight", kv_lora, n_head * (qk_nope + v_dim))
        else:
            g.tensor(p + "attn_k_b.weight", qk_nope, kv_lora, n_head)
            g.tensor(p + "attn_v_b.weight", kv_lora, v_dim, n_head)
        g.tensor(p + "attn_output.weight", n_head * v_dim, n_embd)
        mlp(g, i, n_ff)
    return g


def ssm_keys(g: TinyGGUF, d_conv: int, d_inner: int, d_state: int, dt_rank: int) -> None:
    g.key("ssm.conv_kernel", d_conv)
    g.key("ssm.inner_size", d_inner)
    g.key("ssm.state_size", d_state)
    g.key("ssm.time_step_rank", dt_rank)


def mamba1_layer(
    g: TinyGGUF, i: int, d_conv: int, d_inner: int, d_state: int, dt_rank: int, jamba: bool = False
) -> None:
    """One Mamba-1 mixer (ssm_in, conv, x/dt projections, A, D, out); float32 like the
    converter writes SSM tensors."""
    p, e = f"blk.{i}.", g.n_embd
    g.tensor(p + "ssm_in.weight", e, 2 * d_inner, f32=True)
    g.tensor(p + "ssm_conv1d.weight", d_conv, d_inner, f32=True)
    g.norm(p + "ssm_conv1d.bias", d_inner)
    g.tensor(p + "ssm_x.weight", d_inner, dt_rank + 2 * d_state, f32=True)
    g.tensor(p + "ssm_dt.weight", dt_rank, d_inner, f32=True)
    g.norm(p + "ssm_dt.bias", d_inner)
    if jamba:
        g.norm(p + "ssm_dt_norm.weight", dt_rank)
        g.norm(p + "ssm_b_norm.weight", d_state)
        g.norm(p + "ssm_c_norm.weight", d_state)
    g.tensor(p + "ssm_a", d_state, d_inner, f32=True)
    g.norm(p + "ssm_d", d_inner)
    g.tensor(p + "ssm_out.weight", d_inner, e, f32=True)


def mamba(
    path: Path,
    n_layer: int = 4,
    n_embd: int = 96,
    d_state: int = 16,
    d_conv: int = 4,
    dt_rank: int = 6,
) -> TinyGGUF:
    """Mamba-1 exactly as the converter writes it: head_count 0 and no head_count_kv."""
    d_inner = 2 * n_embd  # llama.cpp refuses any other expansion factor for mamba
    g = TinyGGUF(path, "mamba", n_layer, n_embd)
    g.key("feed_forward_length", 0)
    g.key("attention.head_count", 0)
    g.key("attention.layer_norm_rms_epsilon", 1e-5)
    ssm_keys(g, d_conv, d_inner, d_state, dt_rank)
    g.key("ssm.dt_b_c_rms", False)
    g.embeddings()
    for i in range(n_layer):
        g.norm(f"blk.{i}.attn_norm.weight", n_embd)
        mamba1_layer(g, i, d_conv, d_inner, d_state, dt_rank)
    return g


def mamba2(
    path: Path,
    n_layer: int = 4,
    n_embd: int = 128,
    d_state: int = 32,
    d_conv: int = 4,
    n_group: int = 2,
    head_dim: int = 32,
) -> TinyGGUF:
    """Mamba-2: grouped B/C (n_group), one decay per head (dt_rank = d_inner / head_dim)."""
    d_inner = 2 * n_embd
    dt_rank = d_inner // head_dim
    conv_dim = d_inner + 2 * n_group * d_state
    g = TinyGGUF(path, "mamba2", n_layer, n_embd)
    g.key("feed_forward_length", 0)
    g.key("attention.head_count", 0)
    g.key("attention.layer_norm_rms_epsilon", 1e-5)
    ssm_keys(g, d_conv, d_inner, d_state, dt_rank)
    g.key("ssm.group_count", n_group)
    g.embeddings()
    for i in range(n_layer):
        p = f"blk.{i}."
        g.norm(p + "attn_norm.weight", n_embd)
        g.tensor(p + "ssm_in.weight", n_embd, d_inner + conv_dim + dt_rank, f32=True)
        g.tensor(p + "ssm_conv1d.weight", d_conv, conv_dim, f32=True)
        g.norm(p + "ssm_conv1d.bias", conv_dim)
        g.norm(p + "ssm_dt.bias", dt_rank)
        g.tensor(p + "ssm_a", 1, dt_rank, f32=True)
        g.tensor(p + "ssm_d", 1, dt_rank, f32=True)
        g.tensor(p + "ssm_norm.weight", d_inner // n_group, n_group, f32=True)
        g.tensor(p + "ssm_out.weight", d_inner, n_embd, f32=True)
    return g


def jamba(
    path: Path,
    n_kv: tuple[int, ...] = (0, 0, 2, 0, 0, 0, 2, 0),
    n_head: int = 4,
    head_dim: int = 48,
    d_state: int = 16,
    d_conv: int = 4,
    dt_rank: int = 12,
    n_ff: int = 128,
) -> TinyGGUF:
    """Jamba: head_count_kv per layer; 0 marks a Mamba layer (src/models/jamba.cpp)."""
    n_embd = n_head * head_dim
    d_inner = 2 * n_embd
    g = TinyGGUF(path, "jamba", len(n_kv), n_embd)
    g.key("attention.head_count", n_head)
    g.key("attention.head_count_kv", list(n_kv))
    g.key("attention.key_length", head_dim)
    g.key("attention.value_length", head_dim)
    g.key("attention.layer_norm_rms_epsilon", 1e-5)
    g.key("feed_forward_length", n_ff)
    ssm_keys(g, d_conv, d_inner, d_state, dt_rank)
    g.embeddings()
    for i, kv in enumerate(n_kv):
        g.norm(f"blk.{i}.attn_norm.weight", n_embd)
        if kv == 0:
            mamba1_layer(g, i, d_conv, d_inner, d_state, dt_rank, jamba=True)
        else:
            qkv(g, i, n_embd, kv * head_dim)
            g.tensor(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        mlp(g, i, n_ff)
    return g


def qwen3next(
    path: Path,
    n_layer: int = 8,
    n_head: int = 4,
    n_kv: int = 2,
    head_dim: int = 64,
    n_embd: int = 128,
    d_state: int = 32,
    n_group: int = 2,
    n_v_heads: int = 4,
    d_conv: int = 4,
    n_ff: int = 64,
    n_expert: int = 4,
) -> TinyGGUF:
    """Qwen3-Next: Gated DeltaNet layers with full attention every 4th layer, MoE MLPs.

    The recurrent state per layer is a d_state x d_state matrix per value head, plus the
    convolution window over Q, K and V (src/llama-hparams.cpp n_embd_r / n_embd_s).
    """
    key_dim = d_state * n_group
    value_dim = d_state * n_v_heads
    conv_dim = 2 * key_dim + value_dim
    g = TinyGGUF(path, "qwen3next", n_layer, n_embd)
    g.key("attention.head_count", n_head)
    g.key("attention.head_count_kv", n_kv)
    g.key("attention.key_length", head_dim)
    g.key("attention.value_length", head_dim)
    g.key("attention.layer_norm_rms_epsilon", 1e-6)
    g.key("feed_forward_length", n_ff)
    g.key("expert_count", n_expert)
    g.key("expert_used_count", 2)
    g.key("expert_feed_forward_length", n_ff)
    g.key("expert_shared_feed_forward_length", n_ff)
    ssm_keys(g, d_conv, value_dim, d_state, n_v_heads)
    g.key("ssm.group_count", n_group)
    g.key("full_attention_interval", 4)
    g.embeddings()
    for i in range(n_layer):
        p = f"blk.{i}."
        g.norm(p + "attn_norm.weight", n_embd)
        g.norm(p + "post_attention_norm.weight", n_embd)
        if (i + 1) % 4 == 0:  # full attention; Q carries its output gate, hence x2
            qkv(g, i, n_head * head_dim * 2, n_kv * head_dim)
            g.tensor(p + "attn_output.weight", n_head * head_dim, n_embd)
            g.norm(p + "attn_q_norm.weight", head_dim)
            g.norm(p + "attn_k_norm.weight", head_dim)
        else:
            g.tensor(p + "attn_qkv.weight", n_embd, conv_dim)
            g.tensor(p + "attn_gate.weight", n_embd, value_dim)
            g.tensor(p + "ssm_conv1d.weight", d_conv, conv_dim, f32=True)
            g.norm(p + "ssm_dt.bias", n_v_heads)
            g.norm(p + "ssm_a", n_v_heads)
            g.tensor(p + "ssm_ba.weight", n_embd, 2 * n_v_heads)
            g.norm(p + "ssm_norm.weight", d_state)
            g.tensor(p + "ssm_out.weight", value_dim, n_embd)
        g.tensor(p + "ffn_gate_inp.weight", n_embd, n_expert, f32=True)
        for part in ("gate", "up"):
            g.tensor(p + f"ffn_{part}_exps.weight", n_embd, n_ff, n_expert)
            g.tensor(p + f"ffn_{part}_shexp.weight", n_embd, n_ff)
        g.tensor(p + "ffn_down_exps.weight", n_ff, n_embd, n_expert)
        g.tensor(p + "ffn_down_shexp.weight", n_ff, n_embd)
        g.norm(p + "ffn_gate_inp_shexp.weight", n_embd)
    return g
