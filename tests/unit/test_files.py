"""tersim.files: bounded reads, atomic writes (nothing lost, no temporary left), standard JSON.

Failures the machine cannot produce on demand (a full disk, a read-only file system, an
interrupt) are injected by making the system call fail the way the kernel would.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import time
from pathlib import Path

import pytest

from tersim import files
from tersim.errors import FileError, TersimError
from tersim.files import dumps_json, read_bounded, read_json, write_atomic, write_json


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- reading -----------------------------------------------------------------------------------


def test_read_returns_the_bytes_of_a_small_file(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_bytes(b"x" * 100)
    assert read_bounded(f, 100, "a YAML file") == b"x" * 100


def test_read_refuses_a_file_over_the_limit_naming_its_size(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_bytes(b"x" * 101)
    with pytest.raises(FileError) as info:
        read_bounded(f, 100, "a YAML file")
    assert info.value.path == str(f) and "101 bytes" in info.value.reason
    assert "at most 100 bytes" in info.value.reason


def test_read_stops_after_limit_plus_one_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that reports no size (like /proc files) is read only up to the limit + 1."""
    asked: list[int] = []
    real_read = os.read

    def read(fd: int, n: int) -> bytes:
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(files.os, "read", read)
    with pytest.raises(FileError, match="too large"):
        read_bounded("/proc/self/maps", 10, "a YAML file")  # always longer than 10 bytes
    assert sum(asked) == 11


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/dev/zero", "is a character device"),
        ("/", "is a directory"),
        ("/proc/self/mem", "input/output error"),
        ("/no/such/file.yaml", "does not exist"),
        ("x" * 300 + ".yaml", "name is too long"),
        ("a\0b.yaml", "NUL byte"),
    ],
)
def test_read_errors_are_one_line_naming_the_path(path: str, words: str) -> None:
    with pytest.raises(FileError) as info:
        read_bounded(path, 1 << 20, "a YAML file")
    assert words in info.value.reason and "\n" not in str(info.value)
    assert str(info.value).startswith(f"{path}: ")


def test_read_of_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(FileError, match="FIFO"):
        read_bounded(fifo, 1 << 20, "a YAML file")
    assert time.monotonic() - start < 5


def test_read_json_names_the_line_of_a_syntax_error(tmp_path: Path) -> None:
    f = tmp_path / "r.json"
    f.write_text('{\n"a": 1,\n}')
    with pytest.raises(FileError) as info:
        read_json(f, 1000, "a record")
    assert info.value.path == f"{f}:3"
    f.write_text("[" * 100_000)  # json's own recursion limit
    with pytest.raises(FileError, match="nested too deeply"):
        read_json(f, 1 << 20, "a record")


# --- writing -----------------------------------------------------------------------------------


def test_write_replaces_a_file_and_keeps_its_permissions(tmp_path: Path) -> None:
    f = tmp_path / "out.json"
    f.write_text("old")
    f.chmod(0o640)
    write_atomic(f, "new")
    assert f.read_text() == "new"
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert _leftovers(tmp_path) == []


def test_full_disk_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "out.json"
    f.write_text("precious")
    written = []

    def write(fd: int, data: memoryview) -> int:
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(data))
        return min(len(data), 10)  # a short write first, then the disk is full

    monkeypatch.setattr(files.os, "write", write)
    with pytest.raises(FileError) as info:
        write_atomic(f, "x" * 60_000)
    assert "no space left" in info.value.reason and info.value.path == str(f)
    assert f.read_text() == "precious"
    assert _leftovers(tmp_path) == []


def test_failing_fsync_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "out.json"
    f.write_text("precious")

    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(files.os, "fsync", fsync)
    with pytest.raises(FileError, match="input/output error"):
        write_atomic(f, "new")
    assert f.read_text() == "precious" and _leftovers(tmp_path) == []


def test_an_interrupt_mid_write_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "out.json"
    f.write_text("precious")

    def write(fd: int, data: memoryview) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "write", write)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(f, "new")
    assert f.read_text() == "precious" and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied")],
)
def test_unwritable_folder_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    real_open = os.open

    def refuse(path: str | Path, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_CREAT:
            raise OSError(code, os.strerror(code))
        return real_open(path, flags, mode)

    monkeypatch.setattr(files.os, "open", refuse)
    with pytest.raises(FileError) as info:
        write_atomic(tmp_path / "out.json", "x")
    assert words in info.value.reason and _leftovers(tmp_path) == []


def test_a_directory_as_output_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "results"
    target.mkdir()
    with pytest.raises(FileError, match="is a directory"):
        write_atomic(target, "x")
    assert _leftovers(tmp_path) == [] and list(target.iterdir()) == []


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileError) as info:
        write_atomic(tmp_path / "no" / "such" / "out.json", "x")
    assert f"folder '{tmp_path / 'no' / 'such'}' does not exist" in info.value.reason


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "data" / "out.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert _leftovers(tmp_path) == [] and _leftovers(real.parent) == []


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "target.json")
    write_atomic(link, "new")
    assert link.is_symlink() and (tmp_path / "target.json").read_text() == "new"


def test_devices_are_written_in_place() -> None:
    write_atomic("/dev/null", "discarded")  # no temporary beside /dev/null, no replacement
    with pytest.raises(FileError, match="no space left"):
        write_atomic("/dev/full", "x")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_long_file_name_works_beside_its_temporary(tmp_path: Path) -> None:
    f = tmp_path / ("n" * 250)
    write_atomic(f, "x")
    assert f.read_text() == "x"
    with pytest.raises(FileError, match="name is too long"):
        write_atomic(tmp_path / ("n" * 300), "x")


# --- JSON --------------------------------------------------------------------------------------


def test_json_is_standard_and_names_a_non_finite_field(tmp_path: Path) -> None:
    assert json.loads(dumps_json({"a": [1, 2.5]})) == {"a": [1, 2.5]}
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(TersimError, match=r"run\.energy\.1 is not a finite number"):
            dumps_json({"run": {"energy": [1.0, bad]}})
    out = tmp_path / "out.json"
    out.write_text("old")
    with pytest.raises(TersimError):
        write_json(out, {"x": math.nan})
    assert out.read_text() == "old" and _leftovers(tmp_path) == []
