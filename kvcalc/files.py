"""Reading and writing user files without trusting them.

Reads: only a regular file is read, judged after following links, so /dev/zero, a FIFO
(which would block for ever), a directory or a socket is refused before a byte is read;
and never more than limit + 1 bytes are read, so a file that grows while it is read, or
whose size the file system misreports (/proc), still ends in "too large" with bounded memory.

Writes: a new file is written beside its destination under a temporary name and renamed
into place, so a full disk or an interrupted run leaves the old file (or none) intact; an
existing destination is replaced only when asked, and a link there is replaced itself,
never followed.

Every OSError becomes one UsageError naming the file and the reason (permission denied,
too many levels of symbolic links, file name too long, ...).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from kvcalc.errors import SpecError, UsageError

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
"""O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer."""

_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a named pipe (FIFO)"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
    (stat.S_ISSOCK, "is a socket"),
)


def reason(exc: OSError) -> str:
    """'permission denied' from PermissionError(13, 'Permission denied'): no errno, no path."""
    return (exc.strerror or exc.__class__.__name__).lower()


def not_regular(mode: int) -> str:
    """What a non-regular file is, as a phrase ('is a directory')."""
    for test, phrase in _KINDS:
        if test(mode):
            return phrase
    return "is not a regular file"


def is_path(name: str) -> bool:
    """True when `name` names something on disk (a dangling link included).

    A name the file system cannot even look up (too long, a NUL byte) names nothing; any
    other failure (permission denied on a parent, a loop of links) means something is
    there that the read will then report.
    """
    try:
        os.lstat(name)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except ValueError:  # an embedded NUL byte
        return False
    except OSError as exc:
        return exc.errno not in (errno.ENAMETOOLONG, errno.ENOENT, errno.ENOTDIR)
    return True


def kind(path: Path) -> str:
    """'file', 'dir', 'missing' or 'other', following links; errors name the file."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except ValueError:
        raise UsageError(f"{path!r}: a file name cannot contain a NUL byte") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({reason(exc)})") from None
    if stat.S_ISREG(mode):
        return "file"
    return "dir" if stat.S_ISDIR(mode) else "other"


def open_regular(path: Path, what: str) -> BinaryIO:
    """Open a regular file for reading, refusing anything else before reading a byte."""
    try:
        mode = os.stat(path).st_mode  # no open() at all of a device or FIFO
        if not stat.S_ISREG(mode):
            raise UsageError(f"{path}: {not_regular(mode)}, expected {what}")
        fd = os.open(path, _READ_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(f"{path}: no such file") from None
    except ValueError:
        raise UsageError(f"{path!r}: a file name cannot contain a NUL byte") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({reason(exc)})") from None
    try:
        mode = os.fstat(fd).st_mode  # the file opened, not the one stat() saw a moment ago
        if not stat.S_ISREG(mode):
            raise UsageError(f"{path}: {not_regular(mode)}, expected {what}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: Path, limit: int, what: str, hint: str = "") -> bytes:
    """The bytes of a regular file of at most `limit` bytes; reads at most limit + 1.

    `what` names the expected content ('a YAML description'); `hint` says what to do
    about a file that is too large.
    """
    with open_regular(path, what) as handle:
        try:
            declared = os.fstat(handle.fileno()).st_size
            data = b"" if declared > limit else handle.read(limit + 1)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read ({reason(exc)})") from None
    size = max(declared, len(data))
    if size > limit:
        raise SpecError(
            f"{path}: {size:,}{'+' if size == limit + 1 else ''} bytes is too large for "
            f"{what} (limit {limit:,}){'; ' + hint if hint else ''}"
        )
    return data


def read_text(path: Path, limit: int, what: str, hint: str = "") -> str:
    """read_bounded, decoded as UTF-8 (a BOM is dropped); undecodable bytes name the file."""
    data = read_bounded(path, limit, what, hint)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: cannot read (not UTF-8 text: {bad_byte(data, exc)})") from None


def read_input(name: str, limit: int, what: str, hint: str = "") -> str:
    """A file's text, or stdin's for '-': at most `limit` bytes, a non-regular file refused
    before a byte is read; undecodable bytes are replaced, not fatal (engine logs mix
    encodings in their progress bars)."""
    import sys

    if name == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise UsageError(f"stdin: more than {limit:,} bytes{'; ' + hint if hint else ''}")
    else:
        data = read_bounded(Path(name), limit, what, hint)
    return data.decode("utf-8", errors="replace")


def bad_byte(data: bytes, exc: UnicodeDecodeError) -> str:
    """'byte 3 is 0xe9': where UTF-8 decoding failed, for the error line."""
    return f"byte {exc.start:,} is {data[exc.start]:#04x}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_new(dest: Path, write: Callable[[BinaryIO], object], *, force: bool, flag: str) -> None:
    """Write `dest` through a temporary file in its folder and a rename.

    Refuses an existing destination unless `force`; with `force` replaces a regular file
    or a link (the link itself: its target is never touched), nothing else.  On any
    failure the temporary file is removed and the old destination is as it was.
    """
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UsageError(f"{flag} {dest}: cannot write ({reason(exc)})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{flag} {dest}: is a directory")
        if not force:
            raise UsageError(f"{flag} {dest}: already exists; add --force to replace it")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            raise UsageError(f"{flag} {dest}: {not_regular(st.st_mode)}; not replaced")
    import tempfile  # only a write needs it (reads are what every command does)

    folder = dest.parent
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"{flag} {dest}: cannot write in {folder} ({reason(exc)})") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; a plot is as readable as any file the user creates
        os.chmod(temp, 0o666 & ~_umask())
        if force:
            os.replace(temp, dest)  # atomic; replaces a link itself, never its target
        else:
            _link_new(temp, dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if exc.errno == errno.EEXIST:
            raise UsageError(f"{flag} {dest}: already exists; add --force to replace it") from None
        raise UsageError(f"{flag} {dest}: cannot write ({reason(exc)})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _link_new(temp: Path, dest: Path) -> None:
    """Give `temp` the name `dest` only if nothing has taken that name meanwhile."""
    try:
        os.link(temp, dest)  # fails with EEXIST rather than replace: no window to clobber
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # a file system without hard links: check, then rename (a tiny window remains)
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "File exists", str(dest)) from None
        os.rename(temp, dest)
        return
    temp.unlink()
