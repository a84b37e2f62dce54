"""A model on the Hugging Face Hub, read with the Hub's own client: config.json and the
header bytes of the weights, never the weights.

huggingface_hub is imported here and only here, so only a repo id that is neither in the
local cache nor a preset loads it.  It brings what users have already set up for every
other tool: HF_TOKEN (or a saved login) for gated and private repositories, HF_ENDPOINT
for a mirror, HF_HUB_OFFLINE.  kvcalc reads HF_ENDPOINT and HF_HUB_OFFLINE when it asks,
not when the client was imported, so a Python caller may set them at any time.

What is read, by HTTP range requests on the files' resolve URLs:
- config.json (a few KB);
- safetensors: the first 64 KiB of each shard (the 8-byte header length and, nearly
  always, the whole JSON header), and the rest of a longer header; a sharded checkpoint's
  model.safetensors.index.json names the shards;
- a GGUF: its first 1 MiB, then 4 times more each time until the tensor table ends, at
  most MAX_GGUF_HEADER_FETCH (the tokenizer makes real headers 5-10 MB).
Nothing is written to the Hugging Face cache: `kvcalc import org/name --save` keeps a
preset for offline use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from typing import Any

from kvcalc.errors import KvcalcError, SpecError, UsageError
from kvcalc.importers.gguf_pick import choices, models, pick
from kvcalc.importers.hf_cache import RepoRef, cache_dir, tagged
from kvcalc.importers.safetensors import INDEX, SINGLE, Budget, Weights, header_totals, read_index
from kvcalc.limits import (
    MAX_GGUF_HEADER_FETCH,
    MAX_SAFETENSORS_FILES,
    MAX_TEXT_FILE_BYTES,
)
from kvcalc.spec import ModelSpec

FIRST_HEADER_READ = 64 * 2**10
"""A shard's first read: a Llama 3.1 8B shard's header is about 12 KB."""
FIRST_GGUF_READ = 2**20
_TRUE = {"1", "ON", "YES", "TRUE"}  # huggingface_hub constants.ENV_VARS_TRUE_VALUES
Warn = Callable[[str], None]


def offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set to a true value, as the client reads it."""
    return any(
        (os.environ.get(name) or "").upper() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def endpoint() -> str:
    """HF_ENDPOINT (a mirror, or a test server), else the Hub."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def load_from_hub(ref: RepoRef, warn: Warn, suggestions: list[str]) -> ModelSpec:
    """The model `ref` names, from the Hub; every failure is one UsageError line."""
    hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
    if offline():
        raise UsageError(
            f"{ref} is not in the Hugging Face cache ({cache_dir()}) nor a preset{hint}, and "
            "HF_HUB_OFFLINE is set: unset it to read the Hub, or download the repo's "
            "config.json into the cache"
        )
    hub = Client(ref, hint)
    names = hub.files()
    if ref.select is None and "config.json" in names:
        return _from_config(hub, names, warn)
    gguf = pick(names, ref.select, str(ref))
    if gguf is None:
        ggufs = models(names)
        if ref.select is None:
            raise UsageError(f"{ref}: the Hub repository has no config.json and no GGUF file")
        extra = f"; {choices(ggufs, str(ref))}" if ggufs else " (it holds no GGUF files)"
        raise UsageError(f"{ref}: no GGUF file in the repository matches {ref.select!r}{extra}")
    return _from_gguf(hub, gguf, warn)


def _from_config(hub: Client, names: set[str], warn: Warn) -> ModelSpec:
    from kvcalc.importers.hf import parse_json, spec_from_config, with_weights
    from kvcalc.limits import MAX_TEXT_FILE_BYTES as MAX_CONFIG_BYTES

    origin = hub.origin("config.json")
    config = parse_json(hub.whole("config.json", MAX_CONFIG_BYTES), origin)
    spec, notes = spec_from_config(config, origin, hub.ref.repo)
    spec, notes = with_weights(spec, config, origin, _weights(hub, names, warn), notes)
    for note in notes:
        warn(note)
    return tagged(spec, hub.ref, hub.where())


def _weights(hub: Client, names: set[str], warn: Warn) -> Weights | None:
    """Parameters and bytes from the shards' headers (or the index's total when a shard
    the index names is not in the repository)."""
    total = None
    if INDEX in names:
        total, shards = read_index(hub.whole(INDEX, MAX_TEXT_FILE_BYTES), hub.origin(INDEX))
        if not shards or any(shard not in names for shard in shards):
            return Weights(None, total, f"{INDEX} metadata.total_size") if total else None
    elif SINGLE in names:
        shards = [SINGLE]
    else:
        shards = sorted(n for n in names if n.endswith(".safetensors") and "/" not in n)
        if not shards:
            return None
    if len(shards) > MAX_SAFETENSORS_FILES:
        raise SpecError(f"{hub.ref}: more than {MAX_SAFETENSORS_FILES:,} safetensors shards")
    budget = Budget()
    with ThreadPoolExecutor(max_workers=min(8, len(shards))) as pool:
        sums = list(pool.map(lambda shard: hub.header(shard, budget), shards))
    params, nbytes = sum(p for p, _ in sums), sum(b for _, b in sums)
    if total is not None and total != nbytes:
        warn(
            f"{INDEX} says {total:,} bytes of tensors, the shards' headers {nbytes:,}: "
            "the headers are used"
        )
    how = f"{len(shards)} safetensors header{'s' * (len(shards) > 1)} (HTTP range requests)"
    return Weights(params, nbytes, how)


def _from_gguf(hub: Client, name: str, warn: Warn) -> ModelSpec:
    from kvcalc.importers.gguf_file import spec_from_gguf
    from kvcalc.importers.gguf_read import Truncated, read_header

    origin = hub.origin(name)
    data, total = hub.read(name, 0, FIRST_GGUF_READ)
    asked = FIRST_GGUF_READ
    while True:
        if total is None:  # no size from the server: a short answer is the whole file
            total = len(data) if len(data) < asked else None
        try:
            parsed = read_header(data, PurePosixPath(origin), total or 2**62)
            break
        except Truncated as short:
            if len(data) >= MAX_GGUF_HEADER_FETCH:
                raise SpecError(
                    f"{origin}: the GGUF header runs past {MAX_GGUF_HEADER_FETCH:,} bytes "
                    "(kvcalc's limit for reading one over the network); download the file "
                    "and give its path"
                ) from None
            asked = min(max(short.needed, 4 * len(data)), MAX_GGUF_HEADER_FETCH)
            more, size = hub.read(name, len(data), asked)
            if not more:
                raise SpecError(f"{origin}: the server sent no bytes past {len(data):,}") from None
            data, total = data + more, total or size
    spec, notes = spec_from_gguf(PurePosixPath(origin), parsed)
    for note in notes:
        warn(note)
    return tagged(spec, hub.ref, hub.where())


class Client:
    """One repository at one commit, through huggingface_hub's session and headers."""

    def __init__(self, ref: RepoRef, hint: str) -> None:
        try:
            import huggingface_hub  # noqa: F401 - the path that reads the Hub
        except ImportError:
            raise UsageError(
                f"{ref}: reading the Hugging Face Hub needs the huggingface_hub package "
                "(pip install huggingface_hub)"
            ) from None
        self.ref, self.hint, self.endpoint = ref, hint, endpoint()
        self.commit = ref.revision or "main"
        self._lock = threading.Lock()

    def origin(self, name: str) -> str:
        return f"{self.ref.repo}/{name}"

    def where(self) -> str:
        return f"Hugging Face Hub ({self.endpoint}) at {self.commit[:12]}"

    def files(self) -> set[str]:
        """The repository's file names at the revision asked for; pins the commit."""
        from huggingface_hub import HfApi, constants

        try:
            info = HfApi(endpoint=self.endpoint).model_info(
                self.ref.repo, revision=self.ref.revision, timeout=constants.HF_HUB_ETAG_TIMEOUT
            )
        except Exception as exc:  # the client raises its transport's errors too
            raise self.failure(exc, "its file list") from None
        if isinstance(info.sha, str) and info.sha:
            self.commit = info.sha  # every file from the same commit
        return {s.rfilename for s in info.siblings or () if isinstance(s.rfilename, str)}

    def whole(self, name: str, limit: int) -> bytes:
        """A small file in full; more than `limit` bytes is refused unread past limit + 1."""
        data, total = self.read(name, 0, limit + 1)
        size = max(len(data), total or 0)
        if size > limit:
            raise SpecError(f"{self.origin(name)}: {size:,} bytes is more than {limit:,}")
        return data

    def header(self, name: str, budget: Budget) -> tuple[int, int]:
        """(parameters, bytes) from one safetensors file's header."""
        origin = self.origin(name)
        data, _ = self.read(name, 0, FIRST_HEADER_READ)
        with self._lock:
            length = budget.length(data[:8], origin)
        if len(data) < 8 + length:
            more, _ = self.read(name, len(data), 8 + length)
            data += more
        raw = data[8 : 8 + length]
        if len(raw) != length:
            raise SpecError(f"{origin}: safetensors header cut short ({len(raw):,} of {length:,})")
        return header_totals(raw, origin)

    def read(self, name: str, start: int, stop: int) -> tuple[bytes, int | None]:
        """Bytes [start, stop) of a file (fewer at its end), and the file's size when the
        server says it.  A server that ignores the range and sends the whole file is read
        only up to `stop`."""
        from huggingface_hub import constants, get_session, hf_hub_url

        # documented as huggingface_hub.utils.build_hf_headers; not re-exported for mypy
        from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

        url = hf_hub_url(self.ref.repo, name, revision=self.commit, endpoint=self.endpoint)
        headers = {**build_hf_headers(), "Range": f"bytes={start}-{stop - 1}"}
        try:
            with get_session().stream(
                "GET", url, headers=headers, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT
            ) as response:
                if response.status_code == 416:  # the range starts at or past the end
                    return b"", _size(response.headers.get("Content-Range"))
                if response.status_code >= 400:
                    raise self.status(response, name)
                skip = start if response.status_code == 200 else 0
                total = (
                    _size(response.headers.get("Content-Range"))
                    if response.status_code == 206
                    else _int(response.headers.get("Content-Length"))
                )
                return _take(response.iter_bytes(), skip, stop - start), total
        except KvcalcError:
            raise
        except Exception as exc:  # transport errors: not reachable, timed out, reset
            raise self.failure(exc, name) from None

    def status(self, response: Any, name: str) -> UsageError:
        """An HTTP error answer as one line: gated, private or missing, or the code."""
        code, error = response.status_code, response.headers.get("X-Error-Code")
        if error == "GatedRepo" or (code in (401, 403) and error is None):
            return self.gated() if error == "GatedRepo" else self.denied()
        if error == "RepoNotFound":
            return self.missing()
        if error == "RevisionNotFound":
            return UsageError(f"{self.ref}: the Hub has no revision {self.ref.revision!r}")
        if code == 404:
            return UsageError(f"{self.ref}: the Hub has no file {name} at {self.commit[:12]}")
        return UsageError(f"{self.ref}: the Hub answered HTTP {code} for {name}")

    def failure(self, exc: Exception, what: str) -> UsageError:
        """The client's exception as one line."""
        from huggingface_hub import errors

        if isinstance(exc, errors.GatedRepoError):
            return self.gated()
        if isinstance(exc, errors.RepositoryNotFoundError):
            return self.missing()
        if isinstance(exc, errors.RevisionNotFoundError):
            return UsageError(f"{self.ref}: the Hub has no revision {self.ref.revision!r}")
        if isinstance(exc, errors.OfflineModeIsEnabled):
            return UsageError(f"{self.ref}: not in the Hugging Face cache; the client is offline")
        response = getattr(exc, "response", None)
        if isinstance(exc, errors.HfHubHTTPError) and response is not None:
            return self.status(response, what)
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        return UsageError(
            f"{self.ref}: not in the Hugging Face cache nor a preset{self.hint}, and the Hub "
            f"at {self.endpoint} cannot be reached ({reason}): check the network, or set "
            "HF_HUB_OFFLINE=1 to use only the local cache"
        )

    def gated(self) -> UsageError:
        return UsageError(
            f"{self.ref} is gated on the Hub: accept its terms at {self.endpoint}/"
            f"{self.ref.repo} and set HF_TOKEN to a token with access ({_token_state()})"
        )

    def denied(self) -> UsageError:
        return UsageError(
            f"{self.ref}: the Hub refused access (private or gated): set HF_TOKEN to a token "
            f"with access ({_token_state()})"
        )

    def missing(self) -> UsageError:
        return UsageError(
            f"{self.ref}: not on the Hugging Face Hub ({self.endpoint}) and not a preset"
            f"{self.hint} (a private repo needs HF_TOKEN: {_token_state()})"
        )


def _token_state() -> str:
    from huggingface_hub import get_token

    return "a token is set, without access" if get_token() else "no token is set"


def _take(chunks: Any, skip: int, count: int) -> bytes:
    """`count` bytes after the first `skip` of a stream, reading no further than that."""
    out = bytearray()
    for chunk in chunks:
        if skip:
            cut = min(skip, len(chunk))
            chunk, skip = chunk[cut:], skip - cut
        out += chunk[: count - len(out)]
        if len(out) >= count:
            break
    return bytes(out)


def _size(content_range: str | None) -> int | None:
    """The file size from 'bytes 0-65535/16060522496' (or 'bytes */123'), if given."""
    if not content_range or "/" not in content_range:
        return None
    return _int(content_range.rsplit("/", 1)[1])


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else None
