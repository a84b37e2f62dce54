"""Tiny GGUFs of the softmax-attention architectures (full, sliding-window, per-layer KV heads).

Each builder writes the keys and tensors that architecture's loader in the vendored
llama.cpp asks for (src/models/<arch>.cpp: `load_arch_hparams` for keys,
`load_arch_tensors` for names and shapes).  Sizes are small but not round, so a
recorded MiB figure exercises the arithmetic rather than hiding it behind powers of two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .gguf_tiny import TinyGGUF


def heads(g: TinyGGUF, n_head: Any, n_kv: Any, head_dim: int, rope: int | None = None) -> None:
    """Attention geometry keys; n_head/n_kv may be per-layer lists (deci, jamba)."""
    g.key("attention.head_count", n_head)
    g.key("attention.head_count_kv", n_kv)
    g.key("attention.key_length", head_dim)
    g.key("attention.value_length", head_dim)
    # llama/deci refuse a rope dimension different from the head size ("invalid n_rot")
    g.key("rope.dimension_count", rope or head_dim)
    g.key("attention.layer_norm_rms_epsilon", 1e-5)


def qkv(g: TinyGGUF, i: int, q_dim: int, kv_dim: int, bias: bool = False) -> None:
    """Separate Q, K, V projections of layer i (create_tensor_qkv's unfused branch)."""
    e = g.n_embd
    for name, dim in (("q", q_dim), ("k", kv_dim), ("v", kv_dim)):
        g.tensor(f"blk.{i}.attn_{name}.weight", e, dim)
        if bias:
            g.norm(f"blk.{i}.attn_{name}.bias", dim)


def mlp(g: TinyGGUF, i: int, n_ff: int, norm: bool = True) -> None:
    """A gated MLP (gate, up, down) with its pre-norm."""
    e = g.n_embd
    if norm:
        g.norm(f"blk.{i}.ffn_norm.weight", e)
    g.tensor(f"blk.{i}.ffn_gate.weight", e, n_ff)
    g.tensor(f"blk.{i}.ffn_up.weight", e, n_ff)
    g.tensor(f"blk.{i}.ffn_down.weight", n_ff, e)


def llama(
    path: Path,
    n_layer: int = 4,
    n_head: int = 8,
    n_kv: int = 2,
    head_dim: int = 64,
    n_embd: int = 256,
    n_ff: int = 192,
    sliding_window: int | None = None,
    arch: str = "llama",
) -> TinyGGUF:
    """llama (and qwen2, whose loader differs only in biases and q width = n_embd).

    A `sliding_window` key is written as Mistral v0.1's converter did; llama.cpp's llama and
    qwen2 loaders never read it (src/models/llama.cpp, qwen2.cpp), which is the point.
    """
    g = TinyGGUF(path, arch, n_layer, n_embd)
    heads(g, n_head, n_kv, head_dim)
    g.key("feed_forward_length", n_ff)
    if sliding_window is not None:
        g.key("attention.sliding_window", sliding_window)
    g.embeddings()
    for i in range(n_layer):
        g.norm(f"blk.{i}.attn_norm.weight", n_embd)
        qkv(g, i, n_head * head_dim, n_kv * head_dim, bias=arch == "qwen2")
        g.tensor(f"blk.{i}.attn_output.weight", n_head * head_dim, n_embd)
        mlp(g, i, n_ff)
    return g


def qwen2(path: Path, n_head: int = 8, head_dim: int = 48, **kw: Any) -> TinyGGUF:
    # qwen2's loader sizes Q and the output projection by n_embd, so n_embd = heads x dim
    return llama(
        path, n_head=n_head, head_dim=head_dim, n_embd=n_head * head_dim, arch="qwen2", **kw
    )


def phi3(
    path: Path,
    n_layer: int = 4,
    n_head: int = 8,
    n_kv: int = 2,
    head_dim: int = 32,
    n_ff: int = 128,
    sliding_window: int | None = 2047,
) -> TinyGGUF:
    """phi3 with a fused QKV; Phi-3-mini's converter writes sliding_window 2047."""
    n_embd = n_head * head_dim
    # general.name must not contain "phi3": the vocab loader then looks for Phi-3's
    # special end tokens, which a 64-token vocabulary does not have.
    g = TinyGGUF(path, "phi3", n_layer, n_embd, name="tiny-p-three")
    heads(g, n_head, n_kv, head_dim)
    g.key("feed_forward_length", n_ff)
    if sliding_window is not None:
        g.key("attention.sliding_window", sliding_window)
    g.embeddings()
    for i in range(n_layer):
        g.norm(f"blk.{i}.attn_norm.weight", n_embd)
        g.tensor(f"blk.{i}.attn_qkv.weight", n_embd, n_embd + 2 * n_kv * head_dim)
        g.tensor(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        g.norm(f"blk.{i}.ffn_norm.weight", n_embd)
        g.tensor(f"blk.{i}.ffn_up.weight", n_embd, 2 * n_ff)  # gate and up fused
        g.tensor(f"blk.{i}.ffn_down.weight", n_ff, n_embd)
    return g


def gemma(
    path: Path,
    arch: str,
    n_layer: int,
    n_head: int = 4,
    n_kv: int = 2,
    head_dim: int = 64,
    n_embd: int = 192,
    n_ff: int = 160,
    sliding_window: int | None = 256,
    pattern: Any = None,
) -> TinyGGUF:
    """gemma2 / gemma3: post-norms around attention and MLP; gemma3 adds Q/K norms."""
    g = TinyGGUF(path, arch, n_layer, n_embd)
    heads(g, n_head, n_kv, head_dim)
    g.key("feed_forward_length", n_ff)
    if sliding_window is not None:
        g.key("attention.sliding_window", sliding_window)
    if pattern is not None:
        g.key("attention.sliding_window_pattern", pattern)
    if arch == "gemma2":
        g.key("attn_logit_softcapping", 50.0)
        g.key("final_logit_softcapping", 30.0)
    g.embeddings(output=False)  # tied: both loaders reuse token_embd
    for i in range(n_layer):
        g.norm(f"blk.{i}.attn_norm.weight", n_embd)
        qkv(g, i, n_head * head_dim, n_kv * head_dim)
        g.tensor(f"blk.{i}.attn_output.weight", n_head * head_dim, n_embd)
        g.norm(f"blk.{i}.post_attention_norm.weight", n_embd)
        if arch == "gemma3":
            g.norm(f"blk.{i}.attn_q_norm.weight", head_dim)
            g.norm(f"blk.{i}.attn_k_norm.weight", head_dim)
        mlp(g, i, n_ff)
        g.norm(f"blk.{i}.post_ffw_norm.weight", n_embd)
    return g


def cohere2(
    path: Path,
    n_layer: int = 8,
    n_head: int = 6,
    n_kv: int = 2,
    head_dim: int = 32,
    n_ff: int = 128,
    sliding_window: int = 512,
) -> TinyGGUF:
    """Command R7B (cohere2): sliding window required, default pattern 4 (3 local, 1 global)."""
    n_embd = n_head * head_dim
    g = TinyGGUF(path, "cohere2", n_layer, n_embd)
    heads(g, n_head, n_kv, head_dim)
    g.key("attention.layer_norm_epsilon", 1e-5)  # cohere2 reads the plain-LN epsilon
    g.key("feed_forward_length", n_ff)
    g.key("attention.sliding_window", sliding_window)
    g.key("logit_scale", 0.25)
    g.embeddings(output=False)
    for i in range(n_layer):
        g.norm(f"blk.{i}.attn_norm.weight", n_embd)
        qkv(g, i, n_embd, n_kv * head_dim)
        g.tensor(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        mlp(g, i, n_ff, norm=False)  # parallel block: no separate ffn_norm
    return g


def llama4(
    path: Path,
    n_layer: int = 8,
    n_head: int = 4,
    n_kv: int = 1,
    head_dim: int = 64,
    n_embd: int = 128,
    n_ff: int = 96,
    n_expert: int = 4,
    sliding_window: int | None = None,
) -> TinyGGUF:
    """llama4: chunked attention on 3 of 4 layers; MoE every 2nd layer (interleave step 2)."""
    g = TinyGGUF(path, "llama4", n_layer, n_embd)
    heads(g, n_head, n_kv, head_dim)
    g.key("feed_forward_length", n_ff)
    g.key("expert_feed_forward_length", n_ff)
    g.key("expert_count", n_expert)
    g.key("expert_used_count", 1)
    g.key("interleave_moe_layer_step", 2)
    if sliding_window is not None:
        g.key("attention.sliding_window", sliding_window)
    g.embeddings()
    for i in range(n_layer):
        g.norm(f"blk.{i}.attn_norm.weight", n_embd)
        qkv(g, i, n_head * head_dim, n_kv * head_dim)
        g.tensor(f"blk.{i}.attn_output.weight", n_head * head_dim, n_embd)
        g.norm(f"blk.{i}.ffn_norm.weight", n_embd)
        if (i + 1) % 2 == 0:
            g.tensor(f"blk.{i}.ffn_gate_inp.weight", n_embd, n_expert, f32=True)
            for part in ("gate", "up"):
                g.tensor(f"blk.{i}.ffn_{part}_exps.weight", n_embd, n_ff, n_expert)
                g.tensor(f"blk.{i}.ffn_{part}_shexp.weight", n_embd, n_ff)
            g.tensor(f"blk.{i}.ffn_down_exps.weight", n_ff, n_embd, n_expert)
            g.tensor(f"blk.{i}.ffn_down_shexp.weight", n_ff, n_embd)
        else:
            mlp(g, i, n_ff, norm=False)
    return g


def gpt_oss(
    path: Path,
    n_layer: int = 4,
    n_head: int = 8,
    n_kv: int = 2,
    head_dim: int = 64,
    n_embd: int = 128,
    n_ff: int = 64,
    n_expert: int = 4,
    sliding_window: int = 128,
) -> TinyGGUF:
    """gpt-oss (arch string "gpt-oss"): alternating sliding/full layers, sinks, MoE with biases."""
    g = TinyGGUF(path, "gpt-oss", n_layer, n_embd)
    heads(g, n_head, n_kv, head_dim)
    g.key("attention.sliding_window", sliding_window)
    g.key("expert_count", n_expert)
    g.key("expert_used_count", 2)
    g.key("expert_feed_forward_length", n_ff)
    g.key("feed_forward_length", n_ff)
    g.embeddings()
    for i in range(n_layer):
        p = f"blk.{i}."
        g.norm(p + "attn_norm.weight", n_embd)
        g.norm(p + "post_attention_norm.weight", n_embd)
        qkv(g, i, n_head * head_dim, n_kv * head_dim, bias=True)
        g.tensor(p + "attn_output.weight", n_head * head_dim, n_embd)
        g.norm(p + "attn_output.bias", n_embd)
        g.norm(p + "attn_sinks.weight", n_head)
        g.tensor(p + "ffn_gate_inp.weight", n_embd, n_expert, f32=True)
        g.norm(p + "ffn_gate_inp.bias", n_expert)
        for part in ("gate", "up"):
            g.tensor(p + f"ffn_{part}_exps.weight", n_embd, n_ff, n_expert)
            g.tensor(p + f"ffn_{part}_exps.bias", n_ff, n_expert, f32=True)
        g.tensor(p + "ffn_down_exps.weight", n_ff, n_embd, n_expert)
        g.tensor(p + "ffn_down_exps.bias", n_embd, n_expert, f32=True)
    return g


def deci(
    path: Path,
    n_kv: tuple[int, ...],
    n_head: tuple[int, ...] | None = None,
    head_dim: int = 32,
    n_embd: int = 256,
    n_ff: int = 128,
) -> TinyGGUF:
    """deci (Nemotron-NAS): per-layer KV heads.  A layer with KV heads 0 is not recurrent:
    heads > 0 makes it a "linear attention" layer (only attn_output, n_embd x n_embd),
    heads 0 a no-op attention layer (src/models/deci.cpp)."""
    n_layer = len(n_kv)
    heads_per_layer = list(n_head or (n_embd // head_dim,) * n_layer)
    g = TinyGGUF(path, "deci", n_layer, n_embd)
    heads(g, heads_per_layer, list(n_kv), head_dim)
    g.key("feed_forward_length", [n_ff] * n_layer)
    g.embeddings()
    for i, (h, kv) in enumerate(zip(heads_per_layer, n_kv, strict=True)):
        if kv > 0:
            g.norm(f"blk.{i}.attn_norm.weight", n_embd)
            qkv(g, i, h * head_dim, kv * head_dim)
            g.tensor(f"blk.{i}.attn_output.weight", h * head_dim, n_embd)
        elif h > 0:
            g.norm(f"blk.{i}.attn_norm.weight", n_embd)
            g.tensor(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        mlp(g, i, n_ff)
    return g
