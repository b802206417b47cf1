"""Run tersim's CLI on one fuzz case under a time and memory limit, and judge what happened.

A case is one file (hardware, workload, sweep or junk). It goes through ``tersim validate``;
what validates then gets a short ``run`` (a hardware file runs the tiny seed workload, a
workload runs on the 8x8 tiny design with a 4-token prompt and 1 generated token) or a short
``sweep`` (only sweeps of the tiny design and workload, at most 8 points and 8 tokens; a sweep
naming anything else is validated only, unless loading its files fails, which is cheap).

Commands run in this process (``tersim.cli.main`` with ``sys.argv`` set, output captured), which
is about 20 times faster than a subprocess per command, with:

* a time limit: ``SIGALRM`` raises :class:`Timeout` (a BaseException, so no ``except Exception``
  in tersim can swallow it) in the command, again every second after the limit (a raise inside
  a gc callback is lost), and a command that took longer than the limit is a hang anyway;
* a memory limit: the address space may grow by at most ``2 x`` the limit (``RLIMIT_AS``: past
  it allocations fail with MemoryError), and the peak resident set (``VmHWM``, reset before each
  command through ``/proc/self/clear_refs``) may grow by at most the limit.

:func:`run_subprocess` runs the same command through ``python -m tersim`` (a real process with
its own limits, rusage and exit status), for a sample of cases.

Verdicts: ``ok`` (exit 0, standard JSON written), ``rejected`` (exit 2 with a proper message),
and the failures ``traceback`` (an exception escaped, or an exit status other than 0 and 2),
``hang``, ``over_memory``, ``invalid_json`` (exit 0 but the JSON is missing or not standard), and
``bad_message`` (exit 2 from ``validate`` with a line that does not start ``FILE:`` or, for a
field's problem, ``FILE:LINE:``; exit 2 from ``run``/``sweep`` with nothing on stderr, or from
the run of a design with a line that does not start with the design file's name).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "tests" / "data" / "fuzz" / "seeds"
TINY_WORKLOAD = SEEDS / "tiny-workload.yaml"
TINY_HARDWARE = ROOT / "hw_configs" / "ternary-8x8-tiny.yaml"

TIME_LIMIT_S = 30.0
MEMORY_LIMIT_BYTES = 1 << 30
OUT_OF_MEMORY = "out of memory"  # the CLI's message for a MemoryError


class Verdict(StrEnum):
    OK = "ok"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # a valid sweep too large for a short run (validated only)
    TRACEBACK = "traceback"
    HANG = "hang"
    OVER_MEMORY = "over_memory"
    INVALID_JSON = "invalid_json"
    BAD_MESSAGE = "bad_message"


FAILURES = (
    Verdict.TRACEBACK,
    Verdict.HANG,
    Verdict.OVER_MEMORY,
    Verdict.INVALID_JSON,
    Verdict.BAD_MESSAGE,
)


@dataclass(frozen=True)
class Case:
    """One input file: how it was made (``label``) and its bytes."""

    label: str
    data: bytes
    file_name: str = "case.yaml"


@dataclass(frozen=True)
class Outcome:
    """What one command did."""

    command: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    peak_growth_bytes: int
    escaped: str = ""  # the traceback of an exception that escaped main()
    timed_out: bool = False


@dataclass(frozen=True)
class Judged:
    """A command and its verdict (with why, for failures)."""

    outcome: Outcome
    verdict: Verdict
    why: str = ""


class Timeout(BaseException):
    """The command ran past its time limit."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Timeout


def _proc_status_kib(key: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def limits(time_limit_s: float, memory_limit_bytes: int) -> Iterator[None]:
    """Run the body with ``SIGALRM`` raising :class:`Timeout` after ``time_limit_s`` and the
    address space capped at its current size plus ``2 x memory_limit_bytes``."""
    old_handler = signal.signal(signal.SIGALRM, _on_alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    vm_bytes = _proc_status_kib("VmSize") * 1024
    if vm_bytes:
        cap = vm_bytes + 2 * memory_limit_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap if hard < 0 else min(cap, hard), hard))
    # Then every second: a Timeout raised inside a gc callback or a __del__ is swallowed there,
    # so it is raised again until one reaches the command.
    signal.setitimer(signal.ITIMER_REAL, time_limit_s, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_in_process(
    args: list[str],
    time_limit_s: float = TIME_LIMIT_S,
    memory_limit_bytes: int = MEMORY_LIMIT_BYTES,
) -> Outcome:
    """``tersim ARGS`` through ``tersim.cli.main`` in this process, under the limits."""
    from tersim.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_argv, sys.argv = sys.argv, ["tersim", *args]
    rss0 = _proc_status_kib("VmRSS") * 1024
    measured = _reset_peak_rss()
    code: int | None = None
    escaped = ""
    timed_out = False
    start = time.perf_counter()
    try:
        with (
            limits(time_limit_s, memory_limit_bytes),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Timeout:
        timed_out = True
    except BaseException:  # an escaped exception is exactly what the fuzzer looks for
        escaped = traceback.format_exc()
    finally:
        sys.argv = old_argv
    seconds = time.perf_counter() - start
    peak = _proc_status_kib("VmHWM") * 1024 - rss0 if measured else 0
    return Outcome(
        tuple(args), code, out.getvalue(), err.getvalue(), seconds, max(peak, 0), escaped, timed_out
    )


def _subprocess_limits(memory_limit_bytes: int) -> Callable[[], None]:
    def apply() -> None:
        cap = 3 * memory_limit_bytes + (1 << 30)  # the interpreter and libraries: ~0.5 GB
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return apply


def run_subprocess(
    args: list[str],
    workdir: Path,
    time_limit_s: float = TIME_LIMIT_S,
    memory_limit_bytes: int = MEMORY_LIMIT_BYTES,
) -> Outcome:
    """``python -m tersim ARGS`` in a child process with an address-space limit and a timeout;
    its peak resident set comes from the kernel's rusage of that child."""
    out_path, err_path = workdir / "sub.stdout", workdir / "sub.stderr"
    env = {**os.environ, "PYTHONHASHSEED": "0", "COLUMNS": "120"}
    start = time.perf_counter()
    with out_path.open("wb") as out_f, err_path.open("wb") as err_f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tersim", *args],
            stdout=out_f,
            stderr=err_f,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_subprocess_limits(memory_limit_bytes),
        )
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > time_limit_s:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    stderr = err_path.read_text(errors="replace")
    code = None if timed_out else proc.returncode
    escaped = stderr if "Traceback (most recent call last)" in stderr else ""
    return Outcome(
        tuple(args),
        code,
        out_path.read_text(errors="replace"),
        stderr,
        seconds,
        usage.ru_maxrss * 1024,
        escaped,
        timed_out,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def standard_json_problem(path: Path) -> str:
    """Why ``path`` is not standard JSON ('' if it is)."""
    try:
        json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read the JSON output ({exc})"
    except ValueError as exc:
        return f"not standard JSON ({exc})"
    return ""


_FIELD_PROBLEM = re.compile(r"^(?P<line>\d+): (?P<field>.*?): ")
_FILE_PROBLEM = re.compile(r"^ (?P<field>.*?): ")


def validate_message_problem(stderr: str, file_name: str) -> str:
    """Why ``validate``'s stderr is not one ``FILE[:LINE]: field: message`` per line ('' if ok)."""
    lines = [x for x in stderr.splitlines() if x.strip()]
    if not lines:
        return "exit 2 with nothing on stderr"
    for text in lines:
        if not text.startswith(file_name + ":"):
            return f"a line that does not start with the file name: {text[:200]!r}"
        rest = text[len(file_name) + 1 :]
        with_line = _FIELD_PROBLEM.match(rest)
        if with_line is not None:
            continue
        without = _FILE_PROBLEM.match(rest)
        if without is None:
            return f"a line without a field: {text[:200]!r}"
        if without.group("field") != "(file)":
            return f"a field's problem without a line number: {text[:200]!r}"
    return ""


def judge(
    outcome: Outcome, json_out: Path | None, validate_of: str | None, design: str | None = None
) -> Judged:
    """The verdict on one command; ``validate_of`` is the file name for a validate command,
    ``design`` the design file of a run (whose run-time problems must name it)."""
    if outcome.timed_out or outcome.seconds > TIME_LIMIT_S:
        return Judged(
            outcome, Verdict.HANG, f"{outcome.seconds:.1f} s (limit {TIME_LIMIT_S:.0f} s)"
        )
    if outcome.peak_growth_bytes > MEMORY_LIMIT_BYTES or OUT_OF_MEMORY in outcome.stderr:
        return Judged(outcome, Verdict.OVER_MEMORY, f"peak +{outcome.peak_growth_bytes >> 20} MiB")
    if "MemoryError" in outcome.escaped:
        return Judged(outcome, Verdict.OVER_MEMORY, outcome.escaped.strip().splitlines()[-1])
    if outcome.escaped:
        return Judged(outcome, Verdict.TRACEBACK, outcome.escaped.strip().splitlines()[-1])
    if outcome.exit_code == 0:
        if json_out is not None:
            problem = standard_json_problem(json_out)
            if problem:
                return Judged(outcome, Verdict.INVALID_JSON, problem)
        return Judged(outcome, Verdict.OK)
    if outcome.exit_code != 2:
        return Judged(outcome, Verdict.TRACEBACK, f"exit status {outcome.exit_code}")
    if validate_of is not None:
        problem = validate_message_problem(outcome.stderr, validate_of)
    else:  # a problem the design or workload meets at run time: one line per problem
        lines = [x for x in outcome.stderr.splitlines() if x.strip()]
        problem = "" if lines else "exit 2 with nothing on stderr"
        unplaced = [x for x in lines if design is not None and not x.startswith(design + ":")]
        if unplaced:
            problem = (
                f"a run-time problem that does not name the design file: {unplaced[0][:200]!r}"
            )
    if problem:
        return Judged(outcome, Verdict.BAD_MESSAGE, problem)
    return Judged(outcome, Verdict.REJECTED)


Runner = Callable[[list[str]], Outcome]


def _short_sweep(path: Path) -> bool | None:
    """True: a short sweep to run; False: too large (validate only); None: its files fail
    to load (running it is cheap and must fail cleanly)."""
    from tersim.config import load_hardware, load_workload
    from tersim.config.yaml_io import load_sweep
    from tersim.shipped import resolve

    try:  # tersim code, so under the same limits as a command
        with limits(TIME_LIMIT_S, MEMORY_LIMIT_BYTES):
            spec = load_sweep(path)
            hw_path = resolve(spec.hardware, "hardware")
            wl_path = resolve(spec.workload, "workload")
            load_hardware(hw_path)
            spec_wl = load_workload(wl_path)
    except (Exception, Timeout):  # the sweep command meets it too, and is judged for it
        return None
    points = 1
    for values in spec.vary.values():
        points *= len(values)
    scenario = spec.scenario
    tokens = (scenario.prompt_tokens or spec_wl.scenario.prompt_tokens) + (
        spec_wl.scenario.gen_tokens if scenario.gen_tokens is None else scenario.gen_tokens
    )
    return (
        points <= 8
        and tokens <= 8
        and (scenario.batch or spec_wl.scenario.batch) <= 2
        and _same_file(hw_path, TINY_HARDWARE)
        and _same_file(wl_path, TINY_WORKLOAD)
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_case(case: Case, workdir: Path, runner: Runner | None = None) -> list[Judged]:
    """Validate ``case``; give what validates a short run or sweep; judge every command.

    Runs in the repository root, where the corpus's relative paths point."""
    with contextlib.chdir(ROOT):
        return _check_case(case, workdir, runner or run_in_process)


def _check_case(case: Case, workdir: Path, run: Runner) -> list[Judged]:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / case.file_name
    path.write_bytes(case.data)
    json_out = workdir / "out.json"
    json_out.unlink(missing_ok=True)
    judged = [judge(run(["validate", str(path)]), None, str(path))]
    first = judged[0]
    if first.verdict != Verdict.OK:
        return judged
    kind = first.outcome.stdout
    if "(hardware " in kind:
        args = ["run", "--hw", str(path), "--workload", str(TINY_WORKLOAD), "--baseline", "none"]
    elif "(workload " in kind:
        args = ["run", "--hw", str(TINY_HARDWARE), "--workload", str(path), "--baseline", "none"]
        args += ["--prompt-tokens", "4", "--gen-tokens", "1", "--batch", "1"]
    elif "(sweep " in kind:
        short = _short_sweep(path)
        if short is False:
            return [*judged, Judged(first.outcome, Verdict.SKIPPED, "sweep too large")]
        store = workdir / "store.sqlite"  # a fresh store: no point resumes from another case
        for stale in workdir.glob("store.sqlite*"):
            stale.unlink()
        args = ["sweep", str(path), "--store", str(store)]
    else:  # pragma: no cover - validate names the kind of every file it accepts
        return [*judged, Judged(first.outcome, Verdict.BAD_MESSAGE, f"unknown kind: {kind}")]
    design = str(path) if "(hardware " in kind else None
    judged.append(judge(run([*args, "--json", str(json_out)]), json_out, None, design))
    return judged


@dataclass
class Tally:
    """Figures of a fuzz run."""

    cases: int = 0
    distinct: set[int] = field(default_factory=set)
    commands: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    validated: int = 0
    runs: int = 0
    sweeps: int = 0
    slowest_s: float = 0.0
    slowest: str = ""
    peak_growth_bytes: int = 0
    failures: list[tuple[Case, Judged]] = field(default_factory=list)

    def add(self, case: Case, judged: list[Judged]) -> None:
        self.cases += 1
        self.distinct.add(hash(case.data))
        if judged and judged[0].verdict == Verdict.OK:
            self.validated += 1
        for j in judged:
            if j.verdict == Verdict.SKIPPED:
                self.verdicts[j.verdict.value] += 1
                continue
            self.commands += 1
            self.verdicts[j.verdict.value] += 1
            if j.outcome.command[0] == "run":
                self.runs += 1
            elif j.outcome.command[0] == "sweep":
                self.sweeps += 1
            if j.outcome.seconds > self.slowest_s:
                self.slowest_s, self.slowest = j.outcome.seconds, case.label
            self.peak_growth_bytes = max(self.peak_growth_bytes, j.outcome.peak_growth_bytes)
            if j.verdict in FAILURES:
                self.failures.append((case, j))

    def figure(self, verdict: Verdict) -> int:
        return self.verdicts.get(verdict.value, 0)

    def summary(self) -> str:
        return (
            f"fuzz: {self.cases} cases ({len(self.distinct)} distinct files), "
            f"{self.commands} commands ({self.validated} validated; {self.runs} runs, "
            f"{self.sweeps} sweeps, {self.figure(Verdict.SKIPPED)} large sweeps validated only)\n"
            f"fuzz: tracebacks {self.figure(Verdict.TRACEBACK)}, hangs {self.figure(Verdict.HANG)}, "
            f"invalid JSON {self.figure(Verdict.INVALID_JSON)}, over-memory "
            f"{self.figure(Verdict.OVER_MEMORY)}, bad messages {self.figure(Verdict.BAD_MESSAGE)}; "
            f"ok {self.figure(Verdict.OK)}, rejected {self.figure(Verdict.REJECTED)}\n"
            f"fuzz: slowest command {self.slowest_s:.2f} s ({self.slowest[:120]}); "
            f"largest peak-RSS growth {self.peak_growth_bytes / 2**20:.0f} MiB"
        )

    def report_failures(self, folder: Path, limit: int = 20) -> str:
        """Save the failing cases under ``folder`` and describe the first ``limit``."""
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for n, (case, j) in enumerate(self.failures):
            saved = folder / f"failure-{n:03d}.yaml"
            saved.write_bytes(case.data)
            if n < limit:
                lines.append(
                    f"{j.verdict.value}: {' '.join(j.outcome.command[:1])} on {saved} "
                    f"[{case.label[:160]}]: {j.why[:400]}"
                )
        return "\n".join(lines)
