"""The user's own presets: a folder the catalog searches after the shipped presets.

$KVCALC_HOME/models when KVCALC_HOME is set, else the platform's configuration folder:
$XDG_CONFIG_HOME/kvcalc/models (~/.config/kvcalc/models) on Linux and other Unix,
~/Library/Application Support/kvcalc/models on macOS, %APPDATA%\\kvcalc\\models on Windows.
`kvcalc import SRC --save` writes there; nothing else in kvcalc writes to it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def home() -> Path:
    """kvcalc's own configuration folder (the module docstring says where)."""
    given = os.environ.get("KVCALC_HOME")
    if given:
        return Path(os.path.expanduser(given))
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or os.path.expanduser("~\\AppData\\Roaming")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "kvcalc"


def models_dir() -> Path:
    """Where user presets live: home()/models."""
    return home() / "models"
