"""Every limit on what kvcalc reads, in one place, each with why it is safe.

Real inputs are far inside these: a config.json is a few KB, a preset YAML a
few hundred bytes, the largest model has 126 layers.  The limits exist so a
hostile or corrupt file ends in a clear error in bounded time and memory.
"""

from __future__ import annotations

MAX_TEXT_FILE_BYTES = 16 * 2**20
"""config.json: 16 MiB (a real one is ~2 KB; a 200 MB file is refused unread)."""

MAX_YAML_BYTES = 2**20
"""Model/claims YAML: 1 MiB (a preset is ~1 KB).  YAML parses at ~10 MB/s even with
libyaml, so this keeps any file under a fraction of a second; 10^6 layers fit as
`count: 1000000` or a `repeat`, not as a million list items."""

MAX_SAFETENSORS_HEADER = 16 * 2**20
"""One safetensors JSON header: 16 MiB.  safetensors itself allows 100 MB, but a real
shard's header is ~100 KB (one entry per tensor), and 16 MiB of JSON parses in ~0.1 s."""

MAX_SAFETENSORS_HEADERS = 64 * 2**20
"""All the headers beside one config.json together: 64 MiB (DeepSeek V3's 163 shards
hold ~20 MB of headers)."""

MAX_SAFETENSORS_FILES = 4096
"""*.safetensors files in one model folder (real checkpoints: at most a few hundred)."""

MAX_TENSOR_DIMS = 16
"""Dimensions of one tensor in a safetensors header (real tensors have at most 5)."""

MAX_YAML_ALIASES = 16
"""YAML alias references per file: presets use none; each alias can double what a
per-occurrence walk visits ('billion laughs'), so few are allowed."""

MAX_NESTING = 32
"""Depth of nested YAML containers: a preset needs 6 (a repeat inside a repeat)."""

MAX_LAYERS = 1_000_000
"""Layers per model (the largest real model has 126); layer lists expand to this at most."""

MAX_LAYER_GROUPS = 4096
"""Layer groups once repeats are unrolled: what every sizing pass walks, so a fit (a few
sizings) or a dial (one per KV-head count) stays well under a second.  A real model has
at most 126 (every layer its own kind); a million identical layers are one group."""

MAX_HEADS = 65_536
"""Query or KV heads (real models: at most 128).  `dial` trial-divides the query heads
up to their square root, 256 steps here; 10^18 heads would be 10^9."""

MAX_WIDTH = 2**24
"""A width in values (hidden size, head dim, latent rank, state size): 16,777,216, a
thousand times the widest real model (Llama 3.1 405B: hidden 16,384)."""

MAX_TOKENS = 10**30
"""Tokens or requests (context, window, chunk, batch): as --seq, 30 digits."""

MAX_BYTES = 10**30
"""Bytes or parameters in a spec (memory, weights, bandwidth): 30 digits, as --mem."""

MAX_GGUF_ARRAY_DEPTH = 4
"""Arrays of arrays in GGUF metadata (real files use 1)."""

MAX_GGUF_KEYS = 65_536
"""Metadata entries in one GGUF (real files: about 40)."""

MAX_GGUF_TENSORS = 65_536
"""Tensors in one GGUF (real files: a few thousand at most, one per weight matrix)."""

MAX_GGUF_STRING = 2**20
"""Bytes of one GGUF metadata string that are decoded (a chat template is ~10 KB);
longer ones are stepped over, never decoded."""

MAX_NUMBER_DIGITS = 30
"""Digits in a count or size (--seq, --mem ...): 10^30 is past any memory; ints stay exact."""

MAX_NAME_CHARS = 200
"""Characters of a model name taken from a file (_name_or_path, general.name): names are
for display; a 16 MiB one would be printed in every table."""

MAX_PLOT_POINTS = 400
"""Points per plotted line (a terminal is ~200 characters wide)."""
