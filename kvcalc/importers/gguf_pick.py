"""Which GGUF file of a repository `org/name:Q4_K_M` (or `org/name:file.gguf`) means.

GGUF repositories hold one file per quantization ('Llama-3.2-1B-Instruct-Q4_K_M.gguf'),
sometimes in folders, sometimes split in parts ('...-00001-of-00003.gguf'), often beside a
vision projector ('mmproj-...gguf', not a language model).  A quantization matches as a
whole word of the file's path, case-insensitively (llama.cpp's -hf user/model:quant does
the same kind of lookup): Q4_K matches '...-Q4_K.gguf' but not '...-Q4_K_M.gguf'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from kvcalc.errors import SpecError, UsageError

_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_WORD = r"(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"


def models(names: Iterable[str]) -> list[str]:
    """The GGUF files that hold a language model (vision projectors left out)."""
    return [
        n for n in sorted(names)
        if n.lower().endswith(".gguf") and not PurePosixPath(n).name.lower().startswith("mmproj")
    ]  # fmt: skip


def pick(names: Iterable[str], select: str | None, ref: str) -> str | None:
    """The one file `select` (a quantization or file name; None: the only model file)
    picks among `names`; None when none matches.  Several matches, or a model split in
    parts, are errors naming `ref` (the name as the user wrote it) and what there is."""
    names = sorted(names)
    candidates = models(names)
    if select is None:
        chosen = candidates
    elif select.lower().endswith(".gguf"):
        chosen = [n for n in names if n == select or PurePosixPath(n).name == select]
        chosen = chosen or [n for n in names if n.lower() == select.lower()]
    else:
        word = re.compile(_WORD.format(re.escape(select)), re.IGNORECASE)
        chosen = [n for n in candidates if word.search(n)]
    if not chosen:
        return None
    parts = [n for n in chosen if _SPLIT.search(n)]
    if parts and len(parts) == len(chosen):
        raise UsageError(
            f"{ref}: {PurePosixPath(sorted(parts)[0]).name} is split in "
            f"{int(_SPLIT.search(parts[0]).group(2))} parts; kvcalc reads one-file GGUFs "  # type: ignore[union-attr]
            "(download the parts and merge them with llama-gguf-split --merge)"
        )
    if len(chosen) > 1:
        raise SpecError(f"{ref}: {len(chosen)} GGUF files match; {choices(chosen, str(ref))}")
    return chosen[0]


def quant_of(name: str) -> str:
    """'Llama-3.2-1B-Instruct-Q4_K_M.gguf' -> 'Q4_K_M'; the file name when none is seen."""
    stem = _SPLIT.sub(".gguf", PurePosixPath(name).name)[: -len(".gguf")]
    found = re.findall(r"(?i)(?<![A-Za-z0-9])(I?Q\d[A-Z0-9_]*|BF16|F16|F32)(?![A-Za-z0-9])", stem)
    return found[-1] if found else PurePosixPath(name).name


def choices(names: list[str], repo: str) -> str:
    """'give one of: org/name:Q4_K_M, org/name:Q8_0' for an error line (at most 8 shown)."""
    base = repo.split(":", 1)[0]
    shown = sorted(dict.fromkeys(f"{base}:{quant_of(n)}" for n in names))
    more = f" (and {len(shown) - 8} more)" if len(shown) > 8 else ""
    return "give one of: " + ", ".join(shown[:8]) + more
