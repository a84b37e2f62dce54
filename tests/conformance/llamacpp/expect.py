"""What llama.cpp should print for one context, from rules.py's per-layer facts.

Order of decisions follows the code: llama_init_from_model's refusals first
(src/llama-context.cpp), then n_ctx / n_ctx_seq (llama_context constructor), then the
memory module llama_model::create_memory picks (src/llama-model.cpp), then each cache's
size line (llama-kv-cache.cpp, llama-kv-cache-iswa.cpp, llama-memory-recurrent.cpp).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rules import BLOCKS, HYBRID, RECURRENT, ROLLBACK, Layers, mib32, pad, row_bytes


@dataclass
class Expected:
    refusal: str | None = None
    n_ctx: int = 0
    n_ctx_seq: int = 0
    n_batch: int = 0
    n_ubatch: int = 0
    lines: list[str] = field(default_factory=list)  # memory lines, in print order


def refusal(lay: Layers, s: dict[str, Any]) -> str | None:
    """llama_init_from_model's checks, in its order, with its exact messages."""
    fa = s["flash_attn"]
    k, v = s["type_k"], s["type_v"]
    if lay.mla and k != v:
        return f"model does not support different K ({k}) and V ({v}) cache types"
    if BLOCKS[v][0] > 1 and fa == "off":
        return "quantized V cache requires flash_attn to be enabled"
    if fa != "off":  # "auto" counts as on for these two checks
        for dtype, heads, name in ((k, lay.head_k, "k"), (v, lay.head_v, "v")):
            block = BLOCKS[dtype][0]
            if block > 1:
                for h in heads:
                    if h % block:
                        return (f"{name.upper()} cache type {dtype} with block size {block} "
                                f"does not divide n_embd_head_{name}={h}")
    return None


SWA_FULL_REF = "https://github.com/ggml-org/llama.cpp/pull/13194#issuecomment-2868343055"
ALIGN = 32  # TENSOR_ALIGNMENT (ggml/src/ggml-impl.h): the CPU buffer pads each tensor to it


def buffer_line(func: str, kind: str, tensor_bytes: list[int]) -> str:
    """The "CPU KV/RS buffer size" line: the backend buffer, every tensor padded to 32 bytes,
    printed as a double (size / 1024.0 / 1024.0), unlike the float "size =" line."""
    total = sum(pad(b, ALIGN) for b in tensor_bytes)
    return f"{func}: {'CPU':>10s} {kind} buffer size = {total / 1024.0 / 1024.0:8.2f} MiB"


def kv_cache(lay: Layers, chosen: list[int], cells: int, s: dict[str, Any]) -> list[str]:
    """The lines one llama_kv_cache constructor prints: V-padding warning, buffer, size."""
    out = []
    v_trans = s["flash_attn"] == "off"
    if v_trans and len(set(lay.v_width)) > 1:
        out.append("llama_kv_cache: the V embeddings have different sizes across layers and "
                   f"FA is not enabled - padding V cache to {max(lay.v_width)}")
    streams = 1 if s["kv_unified"] else max(1, s["n_seq_max"])
    tensors = [row_bytes(s["type_k"], lay.k_width[i]) * cells * streams for i in chosen]
    if not lay.mla:
        width = [max(lay.v_width) if v_trans else lay.v_width[i] for i in chosen]
        tensors += [row_bytes(s["type_v"], w) * cells * streams for w in width]
    out.append(buffer_line("llama_kv_cache", "KV", tensors))
    out.append(kv_line(lay, chosen, cells, s))
    return out


def kv_line(lay: Layers, chosen: list[int], cells: int, s: dict[str, Any]) -> str:
    """One llama_kv_cache "size =" line for the layers in `chosen`."""
    p = max(1, s["n_seq_max"])
    streams = 1 if s["kv_unified"] else p
    v_trans = s["flash_attn"] == "off"
    # [TAG_V_CACHE_VARIABLE]: with V transposed (FA off) every layer's V row is as wide as
    # the widest layer of the whole model, whatever cache the layer is in
    v_max = max(lay.v_width)
    k_bytes = sum(row_bytes(s["type_k"], lay.k_width[i]) for i in chosen) * cells * streams
    v_bytes = 0
    if not lay.mla:
        widths = [v_max if v_trans else lay.v_width[i] for i in chosen]
        v_bytes = sum(row_bytes(s["type_v"], w) for w in widths) * cells * streams
    return (f"llama_kv_cache: size = {mib32(k_bytes + v_bytes)} MiB ({cells:6d} cells, "
            f"{len(chosen):3d} layers, {p:2d}/{streams} seqs), K ({s['type_k']}): "
            f"{mib32(k_bytes)} MiB, V ({s['type_v']}): {mib32(v_bytes)} MiB")


def rs_line(lay: Layers, arch: str, s: dict[str, Any]) -> str:
    """llama_memory_recurrent's line: one cell per sequence, f32 conv (R) and ssm (S) state."""
    p = max(1, s["n_seq_max"])
    rs_seq = s["n_rs_seq"] if arch in ROLLBACK else 0  # clamped in llama_context
    rows = p * (1 + rs_seq)
    n_rec = sum(lay.recurrent)
    r = 4 * lay.r_width * rows * n_rec
    st = 4 * lay.s_width * rows * n_rec
    tensors = [4 * lay.r_width * rows] * n_rec + [4 * lay.s_width * rows] * n_rec
    # the layer count printed is hparams.n_layer(), all layers, not only recurrent ones
    return buffer_line("llama_memory_recurrent", "RS", tensors) + "\n" + (
           f"llama_memory_recurrent: size = {mib32(r + st)} MiB ({p:6d} cells, "
            f"{len(lay.recurrent):3d} layers, {p:2d} seqs {rs_seq:2d} rs_seq), "
            f"R (f32): {mib32(r)} MiB, S (f32): {mib32(st)} MiB, P (f32): {mib32(0)} MiB")


def expect(arch: str, lay: Layers, s: dict[str, Any]) -> Expected:
    out = Expected(refusal=refusal(lay, s))
    if out.refusal:
        return out
    if BLOCKS[s["type_v"]][0] > 1 and s["flash_attn"] == "auto":
        out.lines.append("llama_init_from_model: enabling flash_attn since it is required "
                         "for quantized V cache")
    p = max(1, s["n_seq_max"])
    # n_batch is capped by the context size as requested, before n_ctx is padded
    out.n_batch = min(s["n_ctx"], s["n_batch"])
    out.n_ubatch = min(out.n_batch, s["n_ubatch"])
    n_ctx = pad(s["n_ctx"], 256)
    if s["kv_unified"]:
        n_ctx_seq = n_ctx
    else:
        n_ctx_seq = pad(n_ctx // p, 256)  # per stream, rounded UP to 256 again
        if n_ctx != n_ctx_seq * p:  # the message says "down"; 1024 / 3 goes up to 1536
            out.lines.append("llama_context: n_ctx is not divisible by n_seq_max - rounding "
                             f"down to {n_ctx_seq * p}")
        n_ctx = n_ctx_seq * p
    out.n_ctx, out.n_ctx_seq = n_ctx, n_ctx_seq
    n = len(lay.swa)
    if arch in RECURRENT:
        out.lines += rs_line(lay, arch, s).split("\n")
        return out
    attn = [i for i in range(n) if not lay.recurrent[i]]
    if arch in HYBRID:
        out.lines += kv_cache(lay, attn, n_ctx_seq, s)
        out.lines += rs_line(lay, arch, s).split("\n")
        return out
    if not any(lay.swa):
        out.lines += kv_cache(lay, attn, n_ctx_seq, s)
        return out
    # llama_kv_cache_iswa: a full cache for dense layers, a small one for sliding layers
    unified_p = p if s["kv_unified"] else 1
    swa_cells = pad(min(n_ctx_seq, lay.n_swa * unified_p + out.n_ubatch), 256)
    if s["swa_full"]:
        swa_cells = n_ctx_seq
        out.lines.append(f"llama_kv_cache_iswa: using full-size SWA cache (ref: {SWA_FULL_REF})")
    base = [i for i in attn if not lay.swa[i]]
    slide = [i for i in attn if lay.swa[i]]
    out.lines.append(f"llama_kv_cache_iswa: creating non-SWA KV cache, size = {n_ctx_seq} cells")
    out.lines += kv_cache(lay, base, n_ctx_seq, s)
    out.lines.append(f"llama_kv_cache_iswa: creating     SWA KV cache, size = {swa_cells} cells")
    out.lines += kv_cache(lay, slide, swa_cells, s)
    return out
