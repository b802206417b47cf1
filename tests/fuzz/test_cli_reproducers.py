"""The issue's command-line reproducers: paths, output files and numbers given on the command line.

Each command runs through ``tersim.cli.main`` in this process (the fuzz harness's runner, with
its time and memory limits). A user error must exit 2 with one line on stderr naming what to
fix, leave no temporary file and never damage an existing output.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from fuzz_harness import ROOT, TINY_HARDWARE, TINY_WORKLOAD, Outcome, run_in_process

import tersim.files


def _one_line_error(res: Outcome, *words: str) -> str:
    assert not res.escaped, res.escaped
    assert res.exit_code == 2, (res.exit_code, res.stdout[-500:], res.stderr)
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _no_temporaries(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


TRACE = ["trace", str(TINY_WORKLOAD), "--prompt-tokens", "4", "--gen-tokens", "1"]
RUN = ["run", "--hw", str(TINY_HARDWARE), "--workload", str(TINY_WORKLOAD), "--baseline", "none"]


@pytest.mark.parametrize(
    ("args", "path", "words"),
    [
        (["validate", "/tmp"], "/tmp", "is a directory"),
        (["validate", "/dev/zero"], "/dev/zero", "character device"),
        (["validate", "/proc/self/mem"], "/proc/self/mem", "input/output error"),
        (["validate", "n" * 300 + ".yaml"], "n" * 300, "name is too long"),
        (["run", "--hw", "/tmp"], "/tmp", "is a directory"),
        (["run", "--hw", str(TINY_HARDWARE), "--workload", "/tmp"], "/tmp", "is a directory"),
        ([*RUN, "--trace", "/dev/zero"], "/dev/zero", "character device"),
        (["report", "/dev/zero", "-o", "/tmp/x.html"], "/dev/zero", "character device"),
        ([*TRACE, "-o", "/no/such/folder/t.json"], "/no/such/folder/t.json", "does not exist"),
        ([*TRACE, "-o", "/dev/full"], "/dev/full", "no space left"),
    ],
)
def test_path_errors_are_one_line_naming_the_path(args: list[str], path: str, words: str) -> None:
    line = _one_line_error(run_in_process(args), words)
    assert line.startswith(path), line


def test_trace_into_a_directory_leaves_nothing_beside_it(tmp_path: Path) -> None:
    out = tmp_path / "traces"
    out.mkdir()
    _one_line_error(run_in_process([*TRACE, "-o", str(out)]), str(out), "is a directory")
    _no_temporaries(tmp_path)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failed_json_write_keeps_the_old_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    out = tmp_path / "rec.json"
    out.write_text('{"old": true}')

    def fail(fd: int, data: memoryview) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tersim.files.os, "write", fail)
    _one_line_error(run_in_process([*RUN, "--json", str(out)]), str(out), "cannot write")
    assert json.loads(out.read_text()) == {"old": True}
    _no_temporaries(tmp_path)


def test_a_symlinked_output_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "store" / "rec.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    res = run_in_process([*RUN, "--json", str(link)])
    assert res.exit_code == 0, res.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["run"]["workload"]["name"] == "fuzz-tiny"


def test_a_sweep_naming_a_folder_as_its_hardware(tmp_path: Path) -> None:
    sweep = ROOT / "tests" / "data" / "fuzz" / "hostile" / "sweep-hardware-dir.yaml"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        _one_line_error(run_in_process(["sweep", str(sweep)]), "/:", "is a directory")


def test_a_malformed_run_record_is_one_line(tmp_path: Path) -> None:
    rec = tmp_path / "rec.json"
    rec.write_text('{"run": {"tersim_version": "0"}}')
    _one_line_error(
        run_in_process(["report", str(rec), "-o", str(tmp_path / "r.html")]),
        str(rec),
        "not a complete tersim run record",
    )
    _no_temporaries(tmp_path)


# Every number the CLI takes, with the other arguments it needs to get that far.
NUMBER_OPTIONS = [
    (["run"], "--prompt-tokens"),
    (["run"], "--gen-tokens"),
    (["run"], "--batch"),
    (["run"], "--threads"),
    (["trace", "x", "-o", "/tmp/unused.json"], "--prompt-tokens"),
    (["trace", "x", "-o", "/tmp/unused.json"], "--gen-tokens"),
    (["trace", "x", "-o", "/tmp/unused.json"], "--batch"),
    (["trace", "x", "-o", "/tmp/unused.json"], "--seed"),
    (["trace", "x", "-o", "/tmp/unused.json"], "--threads"),
    (["footprint", "--workload", "x"], "--context"),
    (["footprint", "--workload", "x"], "--batch"),
    (["footprint", "--workload", "x"], "--outlier-fraction"),
    (["gemm", "--hw", "x", "--n", "1", "--k", "1"], "--m"),
    (["gemm", "--hw", "x", "--m", "1", "--k", "1"], "--n"),
    (["gemm", "--hw", "x", "--m", "1", "--n", "1"], "--k"),
    (["claim"], "--prompt-tokens"),
    (["claim"], "--gen-tokens"),
    (["sweep", "x.yaml"], "--jobs"),
    (["sweep", "x.yaml"], "--point-timeout"),
]


@pytest.mark.parametrize("value", ["-1", "nan", "1e400", str(2**70), "abc"])
@pytest.mark.parametrize(
    ("args", "option"), NUMBER_OPTIONS, ids=[f"{a[0]}{o}" for a, o in NUMBER_OPTIONS]
)
def test_every_cli_number_is_range_checked(args: list[str], option: str, value: str) -> None:
    """`tersim footprint --outlier-fraction -1` printed a negative size; now: exit 2, one line."""
    _one_line_error(run_in_process([*args, option, value]), f"'{option}'", f"tersim {args[0]}")


def test_run_time_design_problems_name_the_file_and_line(tmp_path: Path) -> None:
    """A buffer port too slow for the array is found when mapping, after loading: it is still
    reported at its line of the design file."""
    lines = TINY_HARDWARE.read_text().splitlines()
    at = next(i for i, x in enumerate(lines) if "read_bw_bytes_per_cycle" in x)  # sram.input's
    lines[at] = lines[at].replace("read_bw_bytes_per_cycle: 8", "read_bw_bytes_per_cycle: 1")
    hw = tmp_path / "slow-port.yaml"
    hw.write_text("\n".join(lines) + "\n")
    args = ["run", "--hw", str(hw), "--workload", str(TINY_WORKLOAD), "--baseline", "none"]
    line = _one_line_error(run_in_process(args), "needs 8 bytes per cycle")
    assert line.startswith(f"{hw}:{at + 1}: sram.input.read_bw_bytes_per_cycle: "), line


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/escaped", "a/../../b"])
def test_a_sweep_name_cannot_place_its_store_outside_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The default store is reports/<name>.sqlite: a name with path parts stays inside."""
    seed = (ROOT / "tests" / "data" / "fuzz" / "seeds" / "tiny-sweep.yaml").read_text()
    sweep = tmp_path / "work" / "s.yaml"
    sweep.parent.mkdir()
    sweep.write_text(
        seed.replace("name: fuzz-tiny-sweep", f'name: "{name}"').replace(
            "tests/data/fuzz/seeds/tiny-workload.yaml", str(TINY_WORKLOAD)
        )
    )
    monkeypatch.chdir(sweep.parent)
    res = run_in_process(["sweep", str(sweep)])
    assert res.exit_code == 0, res.stderr
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.sqlite"))
    assert len(made) == 1 and made[0].startswith("work/reports/"), made


def test_a_design_whose_units_cannot_run_an_op_names_its_file(tmp_path: Path) -> None:
    """Found by the long fuzz: a vector unit whose `runs` list lacks `residual` (and no other
    unit runs it) is found while mapping; the error names the design file, not the design."""
    import yaml

    doc = yaml.safe_load(TINY_HARDWARE.read_text())
    doc.setdefault("vector_unit", {})["runs"] = [
        "embedding",
        "norm",
        "quantize",
        "rope",
        "softmax",
        "activation",
        "rescale",
        "matmul",
    ]
    hw = tmp_path / "no-residual.yaml"
    hw.write_text(yaml.safe_dump(doc, sort_keys=False))
    args = ["run", "--hw", str(hw), "--workload", str(TINY_WORKLOAD), "--baseline", "none"]
    line = _one_line_error(run_in_process([*args, "--prompt-tokens", "4", "--gen-tokens", "1"]))
    assert line.startswith(f"{hw}:") and "no unit can run residual" in line, line
