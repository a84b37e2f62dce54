"""A local stand-in for the Hugging Face Hub, and a Hugging Face cache laid out on disk.

The server answers the two endpoints huggingface_hub calls for kvcalc (HfApi.model_info:
GET /api/models/{repo}[/revision/{rev}]; file reads: GET /{repo}/resolve/{rev}/{file}) the
way the Hub does (huggingface_hub utils/_http.py hf_raise_for_status reads the same
X-Error-Code headers): 404 RepoNotFound / RevisionNotFound / EntryNotFound, 401 without a
token and 403 with the wrong one (GatedRepo), large files redirected to a CDN path, and
byte ranges: 206 with Content-Range, 416 past the end, or (for a repo marked so) a server
that ignores Range and sends the whole file.  Every request is logged for the tests.
"""

from __future__ import annotations

import json
import re
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

SHA = "0e9e39f249a16976918f6564b8830bc894c89659"
"""A commit id (meta-llama/Llama-3.1-8B-Instruct's main when these tests were written)."""
TOKEN = "hf_test_token_with_access"

# meta-llama/Llama-3.1-8B-Instruct config.json as published (all fields, in its order)
LLAMA31_8B = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 14336,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.42.3",
    "use_cache": True,
    "vocab_size": 128256,
}
LLAMA31_PARAMS = 8_030_261_248
"""2 x 128,256 x 4,096 (embeddings and head) + 32 x 218,112,000 (per layer: q, o 4,096^2;
k, v 1,024 x 4,096; gate, up, down 14,336 x 4,096; two norms 4,096) + 4,096 (final norm)."""
LLAMA31_BYTES = 2 * LLAMA31_PARAMS  # every tensor BF16: 16,060,522,496 B


def llama31_tensors() -> list[tuple[str, list[int]]]:
    """Llama 3.1 8B's tensors with their shapes, in safetensors order."""
    out = [("model.embed_tokens.weight", [128256, 4096])]
    for i in range(32):
        p = f"model.layers.{i}."
        out += [
            (p + "self_attn.q_proj.weight", [4096, 4096]),
            (p + "self_attn.k_proj.weight", [1024, 4096]),
            (p + "self_attn.v_proj.weight", [1024, 4096]),
            (p + "self_attn.o_proj.weight", [4096, 4096]),
            (p + "mlp.gate_proj.weight", [14336, 4096]),
            (p + "mlp.up_proj.weight", [14336, 4096]),
            (p + "mlp.down_proj.weight", [4096, 14336]),
            (p + "input_layernorm.weight", [4096]),
            (p + "post_attention_layernorm.weight", [4096]),
        ]
    return out + [("model.norm.weight", [4096]), ("lm_head.weight", [128256, 4096])]


def header_bytes(tensors: list[tuple[str, list[int]]], dtype: str = "BF16", width: int = 2
                 ) -> bytes:  # fmt: skip
    """A safetensors file's first bytes: length, then the JSON header (no tensor data)."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        size = width
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw


def llama31_files(shards: int = 4) -> dict[str, bytes]:
    """config.json, the index and `shards` shard headers of Llama 3.1 8B Instruct."""
    tensors = llama31_tensors()
    cut = [round(i * len(tensors) / shards) for i in range(shards + 1)]
    out = {"config.json": json.dumps(LLAMA31_8B, indent=2).encode()}
    weight_map = {}
    for i in range(shards):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = tensors[cut[i] : cut[i + 1]]
        out[name] = header_bytes(part)
        weight_map.update({t: name for t, _ in part})
    index = {"metadata": {"total_size": LLAMA31_BYTES}, "weight_map": weight_map}
    out["model.safetensors.index.json"] = json.dumps(index).encode()
    return out


def write_cache(cache: Path, repo: str, files: dict[str, bytes], commit: str = SHA,
                ref: str | None = "main") -> Path:  # fmt: skip
    """Lay files out as huggingface_hub does: blobs, snapshot links, refs; the snapshot."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    snap = folder / "snapshots" / commit
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        import hashlib

        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        target = snap / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(Path("../" * (len(Path(name).parts) + 1)) / "blobs" / blob.name)
    if ref is not None:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / ref).write_text(commit)
    return snap


@dataclass
class Repo:
    files: dict[str, bytes]
    sha: str = SHA
    gated: bool = False
    private: bool = False
    ignore_range: bool = False


@dataclass
class Hub:
    """The server's state: its repositories and the requests it has answered."""

    repos: dict[str, Repo] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def sent(self, name: str) -> int:
        """Body bytes sent for files whose path ends with `name`."""
        return sum(r["sent"] for r in self.log if r["path"].endswith(name))


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        entry: dict[str, Any]

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            entry = {
                "path": unquote(self.path),
                "range": self.headers.get("Range"),
                "auth": self.headers.get("Authorization"),
                "sent": 0,
            }
            hub.log.append(entry)
            self.entry = entry
            path = unquote(self.path.split("?", 1)[0])
            api = re.match(r"^/api/models/([^/]+/[^/]+?)(?:/revision/(.+))?$", path)
            if api:
                return self.info(api[1], api[2])
            cdn = re.match(r"^/cdn/([^/]+/[^/]+)/([0-9a-f]{40})/(.+)$", path)
            if cdn:
                return self.file(hub.repos[cdn[1]], cdn[3])
            resolve = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
            if resolve:
                return self.resolve(resolve[1], resolve[2], resolve[3])
            return self.fail(404, None)

        def fail(self, code: int, error: str | None) -> None:
            self.send_response(code)
            if error:
                self.send_header("X-Error-Code", error)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def allowed(self, repo: Repo) -> int | None:
            """None, or the status a request without access gets."""
            if not (repo.gated or repo.private):
                return None
            auth = self.headers.get("Authorization")
            if auth == f"Bearer {TOKEN}":
                return None
            return 403 if auth else 401

        def info(self, name: str, revision: str | None) -> None:
            repo = hub.repos.get(name)
            if repo is None or repo.private and self.allowed(repo):
                return self.fail(401 if repo else 404, "RepoNotFound")
            if revision not in (None, "main", repo.sha):
                return self.fail(404, "RevisionNotFound")
            body = json.dumps({
                "id": name, "modelId": name, "sha": repo.sha, "private": repo.private,
                "gated": "manual" if repo.gated else False,
                "siblings": [{"rfilename": f} for f in sorted(repo.files)],
            }).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def resolve(self, name: str, revision: str, file: str) -> None:
            repo = hub.repos.get(name)
            if repo is None:
                return self.fail(404, "RepoNotFound")
            if revision not in ("main", repo.sha):
                return self.fail(404, "RevisionNotFound")
            denied = self.allowed(repo)
            if denied:
                return self.fail(denied, "GatedRepo" if repo.gated else "RepoNotFound")
            if file not in repo.files:
                return self.fail(404, "EntryNotFound")
            if file.endswith((".safetensors", ".gguf")):  # LFS files live on the CDN
                self.send_response(302)
                self.send_header("Location", f"{hub.url}/cdn/{name}/{repo.sha}/{file}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self.file(repo, file)

        def file(self, repo: Repo, name: str) -> None:
            data = repo.files[name]
            asked = re.match(r"^bytes=(\d+)-(\d+)$", self.headers.get("Range") or "")
            if asked is None or repo.ignore_range:
                return self.body(200, data, {})
            start, end = int(asked[1]), int(asked[2])
            if start >= len(data):
                return self.body(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            end = min(end, len(data) - 1)
            part = data[start : end + 1]
            return self.body(206, part, {"Content-Range": f"bytes {start}-{end}/{len(data)}"})

        def body(self, code: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                for at in range(0, len(data), 65536):
                    self.wfile.write(data[at : at + 65536])
                    self.entry["sent"] += len(data[at : at + 65536])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: what a range-less answer should get

    return Handler


def serve() -> tuple[Hub, ThreadingHTTPServer]:
    """A running server on 127.0.0.1 (a free port); shut it down when done."""
    hub = Hub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hub, server
