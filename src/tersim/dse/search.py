"""Multi-objective search for spaces too large to enumerate: Optuna's NSGA-II sampler.

Each trial picks one value per axis (a categorical choice over the axis's list). Trials are
asked a generation at a time (``population`` of them), run through the sweep's executor in
parallel, and told their objective values; a trial whose point is invalid, fails, or breaks a
constraint is told it failed (NSGA-II then never selects it as a parent).

Resume: the study lives in memory; on start it is rebuilt from the store, every stored point
of this space becoming a finished trial in draw order, so a restarted search continues with no
point recomputed (its later proposals differ from an uninterrupted run's, since the sampler's
random state is not stored). A proposal equal to a stored point is told the stored values
without running. Needs the optional extra ``tersim[dse]`` (optuna).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tersim.config.sweep import Goal
from tersim.dse.evaluate import PointTask, Status
from tersim.dse.executors import Executor
from tersim.dse.space import DesignSpace
from tersim.errors import TersimError

if TYPE_CHECKING:
    from tersim.dse.sweep import _Run


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise TersimError("sampling: nsga2 needs optuna (pip install 'tersim[dse]')") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def run_nsga2(state: _Run, executor: Executor) -> None:
    """Run the search of ``state.spec`` (``sampling.samples`` trials in all)."""
    from tersim.dse.sweep import view

    optuna = _optuna()
    spec = state.spec
    s = spec.sampling
    assert s.samples is not None  # sweep_problems
    space = DesignSpace.of(spec.vary)
    distributions = {
        name: optuna.distributions.CategoricalDistribution(list(values))
        for name, values in space.axes
    }
    goals = [o.goal for o in state.rules.objectives]
    sampler = optuna.samplers.NSGAIISampler(population_size=s.population or 50, seed=s.seed)
    study = optuna.create_study(
        directions=["minimize" if g is Goal.MIN else "maximize" for g in goals],
        sampler=sampler,
    )

    def told(h: str) -> tuple[float, ...] | None:
        p = state.store.get(h)
        if p is None:
            return None
        v = view(p, state.rules)
        return v.objectives if v.status is Status.OK else None

    # replay the stored points of this space, in draw order
    axis_values = dict(space.axes)
    trials = 0
    for p in state.store.points():
        if set(p.params) != set(axis_values) or any(
            p.params[k] not in axis_values[k] for k in p.params
        ):
            continue
        if trials >= s.samples:
            break
        v = view(p, state.rules)
        study.add_trial(
            optuna.trial.create_trial(
                params={k: p.params[k] for k in axis_values},
                distributions=distributions,
                values=list(v.objectives) if v.status is Status.OK else None,
                state=optuna.trial.TrialState.COMPLETE
                if v.status is Status.OK
                else optuna.trial.TrialState.FAIL,
            )
        )
        state.drawn.add(p.config_hash)
        state.resumed += 1
        state.settle_stored(p.config_hash)
        trials += 1

    while trials < s.samples:
        batch = [
            study.ask(distributions) for _ in range(min(s.population or 50, s.samples - trials))
        ]
        trials += len(batch)
        tasks: list[PointTask] = []
        by_hash: dict[str, list[Any]] = {}
        settled: list[tuple[Any, str | None]] = []  # (trial, hash to read values from)
        for trial in batch:
            params = tuple((name, trial.params[name]) for name in space.names)
            pt = state.point(trial.number, params)
            h = state.hash_of(pt)
            if h in by_hash:
                by_hash[h].append(trial)
            elif h in state.known:
                settled.append((trial, h))
            else:
                task = state.admit(trial.number, params)
                if task is None:  # invalid (now stored) or dropped before running
                    settled.append((trial, h if h in state.known else None))
                else:
                    by_hash[h] = [trial]
                    tasks.append(task)
        for outcome in executor.run(iter(tasks)):
            state.record(outcome)
        for key, waiting in by_hash.items():
            settled.extend((t, key) for t in waiting)
        for trial, stored in settled:
            values = None if stored is None else told(stored)
            if values is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, list(values))
