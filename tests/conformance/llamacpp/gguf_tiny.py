"""A tiny GGUF under construction: metadata plus zero-filled tensors llama.cpp will accept.

llama.cpp checks every tensor's name and shape against its per-architecture loader
(vendor/llama.cpp/src/models/<arch>.cpp, `load_arch_tensors`), so a file that loads must
carry exactly the tensors that loader asks for.  The weights themselves are never read for
sizing, so they are zeros: a 4-layer model is a few hundred KiB and builds in milliseconds.

Shapes are given in llama.cpp's order (ne0 first, the fastest-moving dimension); numpy
wants the reverse, so `tensor("x", 256, 64)` stores a (64, 256) array.  Getting this wrong
is the usual reason a hand-built GGUF fails with "tensor 'x' has wrong shape".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np

# 64 tokens are enough: llama.cpp only needs a vocabulary that parses, and a small one
# keeps token_embd/output at 64 x n_embd.
N_VOCAB = 64


class TinyGGUF:
    """Collect metadata and tensors for one architecture, then write the file.

    `meta` mirrors every key this harness set (without the `{arch}.` prefix), so the
    recorded JSON can say what llama.cpp was given without re-reading the file.
    """

    def __init__(
        self,
        path: Path,
        arch: str,
        n_layer: int,
        n_embd: int,
        n_ctx_train: int = 8192,
        name: str | None = None,
    ) -> None:
        self.path = path
        self.arch = arch
        self.n_layer = n_layer
        self.n_embd = n_embd
        self.meta: dict[str, Any] = {}
        self.writer = gguf.GGUFWriter(str(path), arch)
        self.writer.add_name(name or f"tiny-{arch}")
        self.writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        self.key("block_count", n_layer)
        self.key("context_length", n_ctx_train)
        self.key("embedding_length", n_embd)
        self._vocabulary()

    def _vocabulary(self) -> None:
        # An SPM-style ("llama") vocabulary is the smallest one llama.cpp's vocab loader
        # accepts without merges; BOS/EOS ids must exist in it.
        w = self.writer
        w.add_tokenizer_model("llama")
        w.add_token_list([f"<t{i}>" for i in range(N_VOCAB)])
        w.add_token_scores([0.0] * N_VOCAB)
        w.add_token_types([1] * N_VOCAB)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)

    def key(self, name: str, value: Any) -> None:
        """Set `{arch}.{name}`; the value's Python type picks the GGUF type.

        bool -> BOOL, int -> UINT32 (INT32 when negative), float -> FLOAT32,
        list -> ARRAY of the first element's type.  These are the types
        convert_hf_to_gguf.py writes, and the ones llama.cpp's get_key accepts.
        """
        full = f"{self.arch}.{name}"
        self.meta[name] = value
        if isinstance(value, list):
            sub = _value_type(value[0])
            self.writer.add_key_value(full, value, gguf.GGUFValueType.ARRAY, sub_type=sub)
        else:
            self.writer.add_key_value(full, value, _value_type(value))

    def tensor(self, name: str, *ne: int, f32: bool = False) -> None:
        """A zero tensor with llama.cpp dims `ne` (ne0 first); f16 unless f32."""
        dtype = np.float32 if f32 else np.float16
        self.writer.add_tensor(name, np.zeros(tuple(reversed(ne)), dtype=dtype))

    def norm(self, name: str, n: int) -> None:
        """A norm weight or bias: 1-D and float32, as the converter writes them."""
        self.tensor(name, n, f32=True)

    def embeddings(self, output: bool = True) -> None:
        """token_embd, output_norm and (optionally) an untied output head."""
        self.tensor("token_embd.weight", self.n_embd, N_VOCAB)
        self.norm("output_norm.weight", self.n_embd)
        if output:
            self.tensor("output.weight", self.n_embd, N_VOCAB)

    def write(self) -> int:
        """Write the file; returns its size in bytes."""
        w = self.writer
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return self.path.stat().st_size


def _value_type(value: Any) -> gguf.GGUFValueType:
    if isinstance(value, bool):  # before int: bool is an int in Python
        return gguf.GGUFValueType.BOOL
    if isinstance(value, int):
        return gguf.GGUFValueType.UINT32 if value >= 0 else gguf.GGUFValueType.INT32
    if isinstance(value, float):
        return gguf.GGUFValueType.FLOAT32
    if isinstance(value, str):
        return gguf.GGUFValueType.STRING
    raise TypeError(f"no GGUF type for {value!r}")
