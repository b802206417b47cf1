"""Reading and writing the user's files: bounded reads, atomic writes, standard JSON.

Every output file tersim writes goes through :func:`write_atomic` (or :func:`write_json`), and
every input file it reads through :func:`read_bounded`. The rules:

* A read takes at most ``limit_bytes + 1`` bytes, so ``/dev/zero`` or a runaway file costs
  nothing; only regular files are read (a directory, FIFO or device is refused before it is
  opened for reading, so a FIFO cannot block).
* A write goes to a temporary file beside the target, is flushed to disk (``fsync``) and then
  renamed over the target. Whatever fails (full disk, permission, a directory as the target, an
  interrupt), the temporary file is removed and an existing target is left as it was.
* A symbolic link given as the target is written through: the file it points to is replaced and
  the link is kept. An existing target that is not a regular file (``/dev/stdout``, a FIFO) is
  written in place, since there is nothing on it to lose.
* JSON is standard JSON: NaN and infinities are refused (:func:`dumps_json`), naming the field.
* Every operating-system error becomes one :class:`~tersim.errors.FileError` naming the path and
  what to do.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from tersim.errors import FileError, TersimError

_READ_CHUNK_BYTES = 1 << 20

# What to do about each errno, reading and writing (the rest: the system's own words).
_ADVICE: dict[int, str] = {
    errno.ENOENT: "does not exist (check the path)",
    errno.ENOTDIR: "a part of the path is not a folder (check the path)",
    errno.EISDIR: "is a directory (expected a file)",
    errno.EACCES: "permission denied (choose a file you may access, or change its permissions)",
    errno.EPERM: "operation not permitted (choose a file you may access)",
    errno.ENAMETOOLONG: "name is too long (expected at most 255 bytes per path component)",
    errno.ELOOP: "too many levels of symbolic links (check the links along the path)",
    errno.EROFS: "is on a read-only file system (write somewhere else)",
    errno.ENOSPC: "no space left on the device (free some space or write somewhere else)",
    errno.EDQUOT: "disk quota exceeded (free some space or write somewhere else)",
    errno.EFBIG: "file too large for the file system (write somewhere else)",
    errno.EIO: "input/output error (the device failed; try another file)",
    errno.ENXIO: "no such device (expected a regular file)",
    errno.ETXTBSY: "file is busy (close the program using it)",
    errno.EMFILE: "too many open files (close some programs and retry)",
}


def os_reason(exc: OSError) -> str:
    """One phrase for an OS error: what went wrong and what to do."""
    if exc.errno in _ADVICE:
        return _ADVICE[exc.errno]
    return f"{exc.strerror or exc} (check the path)"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bounded(path: str | Path, limit_bytes: int, expected: str) -> bytes:
    """The bytes of regular file ``path``; a FileError if it cannot be read or is too large.

    ``expected`` names what the file should be (``"a YAML file"``), for the messages.
    """
    name = str(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise FileError(name, f"cannot read: {os_reason(exc)}") from None
    except ValueError:  # an embedded NUL byte
        raise FileError(name, "is not a valid path (it contains a NUL byte)") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileError(name, f"is {_kind(st.st_mode)} (expected {expected})")
    chunks: list[bytes] = []
    got = 0
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, opening cannot block.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise FileError(name, f"cannot read: {os_reason(exc)}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileError(name, f"is {_kind(os.fstat(fd).st_mode)} (expected {expected})")
        while got <= limit_bytes:
            chunk = os.read(fd, min(_READ_CHUNK_BYTES, limit_bytes + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise FileError(name, f"cannot read: {os_reason(exc)}") from None
    finally:
        os.close(fd)
    if got > limit_bytes:
        size = f"{st.st_size} bytes" if st.st_size > limit_bytes else f"over {limit_bytes} bytes"
        raise FileError(
            name, f"is too large (got {size}; expected {expected} of at most {limit_bytes} bytes)"
        )
    return b"".join(chunks)


def _write_target(path: Path) -> Path:
    """The file a write to ``path`` replaces: the end of its symbolic links, if it is one."""
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Replace ``path`` by ``data`` (text is UTF-8) atomically; see the module rules."""
    name = str(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        target = _write_target(Path(path))
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise FileError(name, os_reason(exc)) from None
    except ValueError:
        raise FileError(name, "is not a valid path (it contains a NUL byte)") from None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise FileError(name, "is a directory (expected a file name to write)")
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        _write_in_place(name, target, payload)
        return
    folder = target.parent
    if not folder.is_dir():
        raise FileError(
            name, f"folder '{folder}' does not exist (create it first, or write somewhere else)"
        )
    # A short temporary name: a target near the 255-byte limit must not fail for its temp's sake.
    tmp = folder / f".{target.name[:40]}.{secrets.token_hex(4)}.tmp"
    mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o666
    fd = -1
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        if existing is not None:
            os.fchmod(fd, mode)  # the umask applied to a new file, not to a replaced one
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, target)
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        _remove_quietly(tmp)
        if isinstance(exc, OSError):
            raise FileError(name, f"cannot write: {os_reason(exc)}") from None
        raise


def _write_in_place(name: str, target: Path, payload: bytes) -> None:
    """Write to a device or FIFO (``/dev/stdout``): no temporary file, nothing to preserve."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise FileError(name, f"cannot write: {os_reason(exc)}") from None
    try:
        os.set_blocking(fd, True)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise FileError(name, f"cannot write: {os_reason(exc)}") from None
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _non_finite_field(doc: Any, where: str = "") -> str | None:
    """The dotted path of the first NaN or infinity in ``doc``, if any."""
    if isinstance(doc, float) and not math.isfinite(doc):
        return where or "(top level)"
    if isinstance(doc, dict):
        items: Any = doc.items()
    elif isinstance(doc, list | tuple):
        items = enumerate(doc)
    else:
        return None
    for key, value in items:
        found = _non_finite_field(value, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def dumps_json(
    doc: Any,
    indent: int | None = 2,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
) -> str:
    """Standard JSON text of ``doc``; a TersimError naming the field if it holds NaN or inf."""
    try:
        return json.dumps(
            doc, indent=indent, sort_keys=sort_keys, separators=separators, allow_nan=False
        )
    except ValueError:
        field = _non_finite_field(doc)
        if field is None:
            raise
        raise TersimError(
            f"the result's {field} is not a finite number, which standard JSON cannot hold "
            "(expected a finite value: check the inputs behind it, or report a tersim bug)"
        ) from None


def write_json(path: str | Path, doc: Any, indent: int | None = 2, sort_keys: bool = True) -> None:
    """Write ``doc`` as standard JSON (a final newline), atomically."""
    write_atomic(path, dumps_json(doc, indent=indent, sort_keys=sort_keys) + "\n")


def read_json(path: str | Path, limit_bytes: int, expected: str) -> Any:
    """Parse JSON file ``path`` (at most ``limit_bytes``); a FileError naming the line if bad."""
    raw = read_bounded(path, limit_bytes, expected)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileError(f"{path}:{line}", f"is not UTF-8 text (expected {expected})") from None
    except json.JSONDecodeError as exc:
        raise FileError(
            f"{path}:{exc.lineno}", f"is not valid JSON ({exc.msg}; expected {expected})"
        ) from None
    except (ValueError, RecursionError) as exc:  # an integer of 4,300+ digits; deep nesting
        what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(":")[0]
        raise FileError(str(path), f"is not usable JSON ({what}; expected {expected})") from None
