"""Every broken file gives exactly the problems marked in it, with file, line and field.

Each file in tests/data/bad_configs/ marks the offending lines with ``# expect: FIELD``; the test
reads the markers (so the expected line numbers come from the file itself) and demands one
problem per marker, no more, no less.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tersim.config import load_any
from tersim.errors import ConfigError

BAD = Path(__file__).resolve().parents[2] / "data" / "bad_configs"
MARK = re.compile(rb"#\s*expect:\s*(.+?)\s*$")


def _markers(path: Path) -> list[tuple[int, str]]:
    out = []
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        m = MARK.search(line)
        if m:
            out.append((number, m.group(1).decode()))
    return out


BAD_FILES = sorted(BAD.glob("*.yaml"))


def test_there_are_enough_broken_files() -> None:
    assert len(BAD_FILES) >= 15


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_problem_names_file_line_and_field(path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_any(path)
    got = sorted((p.line, p.field) for p in info.value.problems)
    expected = _markers(path)
    if path.stat().st_size == 0:
        expected = [(1, "(file)")]
    assert got == sorted(expected), str(info.value)
    for problem in info.value.problems:
        text = str(problem)
        assert text.startswith(f"{path}:{problem.line}: {problem.field}: ")
        assert "got" in text


def test_unknown_key_suggests_the_close_name() -> None:
    with pytest.raises(ConfigError) as info:
        load_any(BAD / "unknown_key_typo.yaml")
    assert "did you mean 'rows'?" in str(info.value)


def test_ten_megabyte_file_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "huge.yaml"
    big.write_bytes(b"name: x\n" + b"# padding\n" * (1_000_000))
    with pytest.raises(ConfigError) as info:
        load_any(big)
    (problem,) = info.value.problems
    assert problem.field == "(file)"
    assert "too large" in problem.message and str(big.stat().st_size) in problem.message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_any(tmp_path / "nope.yaml")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tersim", *args], capture_output=True, text=True, timeout=120
    )


def test_validate_cli_exit_codes_and_format(root: Path) -> None:
    good = [str(p) for p in sorted((root / "hw_configs").glob("*.yaml"))]
    ok = _cli("validate", *good)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count(": ok (hardware") == len(good)

    bad = BAD / "multi_problem.yaml"
    res = _cli("validate", good[0], str(bad))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == len(_markers(bad))
    for (number, field), line in zip(_markers(bad), lines, strict=True):
        assert line.startswith(f"{bad}:{number}: {field}: "), line


def test_cli_usage_errors_exit_2_without_traceback() -> None:
    for args in (["validate"], ["no-such-command"], ["schema", "nonsense"]):
        res = _cli(*args)
        assert res.returncode == 2, args
        assert "Traceback" not in res.stderr


def test_schema_is_json_schema() -> None:
    import json

    for kind in ("hardware", "workload"):
        res = _cli("schema", kind)
        assert res.returncode == 0
        schema = json.loads(res.stdout)
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False


def test_console_script_is_installed() -> None:
    """The README calls `.venv/bin/tersim`: the entry point must be installed beside python."""
    script = Path(sys.executable).parent / "tersim"
    assert script.exists(), script
    res = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("tersim ")
