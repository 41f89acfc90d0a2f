"""Executors: the same numbers whichever executor and worker ran them; noise shipped once per version."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from simulator import executor as ex
from simulator.executor import InlineExecutor, LocalPoolExecutor, NoiseRef, ScenarioTask, run_task, split_units
from simulator.model import Breakdowns, ModelParams, NoiseTables, PhaseNoise
from tests.simulator.conftest import make_inputs

LOGNORMAL = tuple(PhaseNoise("lognormal", s) for s in (0.15, 0.10, 0.18, 0.10))


def _tasks(noise: NoiseTables) -> list[ScenarioTask]:
    full = make_inputs(9, 3, noise=LOGNORMAL, delay_probability=0.1, tables=noise,
                       breakdowns=Breakdowns(30.0, 2.0, 40.0, 3.0))
    params = ModelParams(cycles_per_block=30)
    return [ScenarioTask(full.subset(t, e, f"T{t}-E{e}"), params, seed=42, replications=7)
            for t, e in [(3, 1), (6, 2), (9, 3), (9, 1)]]


@pytest.fixture(scope="module")
def noise() -> NoiseTables:
    rng = np.random.default_rng(5)
    return NoiseTables.build(rng.normal(0, 1, 300), rng.normal(0, 3, 300), rng.integers(5, 40, 50), label="v9")


@pytest.fixture(scope="module")
def pool2():
    with LocalPoolExecutor(2) as pool:
        yield pool


def test_pool_workers_are_started_and_warm(pool2):
    assert pool2.workers == 2
    assert len(pool2.worker_pids) == 2  # both workers answered a warm-up simulation


def test_results_do_not_depend_on_the_executor_or_the_worker_count(pool2, noise):
    tasks = _tasks(noise)
    inline = InlineExecutor().map_scenarios(tasks)
    pooled = pool2.map_scenarios(tasks)
    with LocalPoolExecutor(1) as pool1:
        single = pool1.map_scenarios(tasks)
    assert pooled == inline == single
    for task, results in zip(tasks, pooled):
        assert [r.replication for r in results] == list(range(task.replications))
        assert {r.scenario_key for r in results} == {task.inputs.scenario_key}
    assert sum(r.breakdowns for rs in pooled for r in rs) > 0  # the streams that differ by worker are exercised


def test_work_units_cover_every_replication_once_largest_first(noise):
    tasks = _tasks(noise)
    units = split_units(tasks, slots=2)
    assert sorted((i, r) for i, a, b in units for r in range(a, b)) == \
        [(i, r) for i, t in enumerate(tasks) for r in range(t.replications)]
    assert len(units) >= 2 * 2
    assert units[0][0] in (2, 3)  # a 9-truck scenario leads
    costs = [tasks[i].cost * (b - a) / tasks[i].replications for i, a, b in units]
    assert costs == sorted(costs, reverse=True)


def test_units_of_equal_cost_put_more_excavators_first(noise):
    task = _tasks(noise)[2]  # 9 trucks, 3 excavators
    one, two = (replace(task, inputs=task.inputs.subset(9, e, f"T9-E{e}")) for e in (1, 2))
    assert one.cost == two.cost
    assert split_units([one, two], slots=1) == [(1, 0, 4), (0, 0, 4), (1, 4, 7), (0, 4, 7)]


def test_more_slots_make_more_units(noise):
    tasks = _tasks(noise)
    assert len(split_units(tasks, slots=1, units_per_slot=1)) == len(tasks)
    assert len(split_units(tasks, slots=4)) > len(split_units(tasks, slots=1))


def test_noise_tables_are_written_once_per_version_and_units_carry_a_reference(pool2, noise):
    tasks = _tasks(noise)
    pool2.map_scenarios(tasks)
    pool2.map_scenarios(tasks)
    files = list(Path(pool2._folder).glob("*.npz"))
    ref = pool2._ref(noise)
    assert isinstance(ref, NoiseRef) and ref.key == noise.key
    assert files == [Path(ref.path)]


def test_a_worker_loads_a_version_once_and_then_serves_it_from_memory(tmp_path, noise):
    path = tmp_path / "n.npz"
    np.savez(path, payload=noise.payload_residuals_t, fuel=noise.fuel_residuals_l, delay=noise.delay_minutes)
    task = _tasks(noise)[1]
    by_ref = ScenarioTask(inputs=task.inputs.subset(6, 2, task.inputs.scenario_key), params=task.params,
                          seed=task.seed, replications=task.replications)
    from dataclasses import replace

    by_ref = replace(by_ref, inputs=replace(by_ref.inputs, noise=NoiseRef(noise.key + "-test", str(path))))
    ex._WORKER_NOISE.clear()
    first, _, _ = ex._run_unit(by_ref, 0, 3)
    path.unlink()  # a second unit must not read the file again
    second, _, _ = ex._run_unit(by_ref, 3, 7)
    assert first + second == run_task(task)
    ex._WORKER_NOISE.clear()


def test_close_removes_the_temporary_folder(noise):
    pool = LocalPoolExecutor(1)
    pool.map_scenarios(_tasks(noise)[:1])
    folder = Path(pool._folder)
    assert folder.is_dir()
    pool.close()
    assert not folder.exists()


def test_a_dead_worker_is_replaced_and_the_request_still_answers(noise):
    import os
    import signal
    import time

    tasks = _tasks(noise)[:2]
    expected = InlineExecutor().map_scenarios(tasks)
    with LocalPoolExecutor(2) as pool:
        victim = next(iter(pool.worker_pids))
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.5)  # let the pool notice the death (else the live worker may finish every unit first)
        assert pool.map_scenarios(tasks) == expected
        assert len(pool.worker_pids) == 2 and victim not in pool.worker_pids


def test_progress_counts_every_replication_once_and_the_results_are_unchanged(pool2, noise):
    """A job's done/total comes from the executor: each finished unit reports its replications."""
    tasks = _tasks(noise)
    expected = InlineExecutor().map_scenarios(tasks)
    for executor in (pool2, InlineExecutor()):
        reports: list[int] = []
        assert executor.map_scenarios(tasks, progress=reports.append) == expected
        assert sum(reports) == sum(t.replications for t in tasks)
        assert all(n > 0 for n in reports)
        assert len(reports) == (len(split_units(tasks, pool2.workers)) if executor is pool2 else len(tasks))


def test_a_job_keeps_only_a_few_units_per_worker_in_the_pool_queue(pool2, noise, monkeypatch):
    tasks = _tasks(noise)
    submitted: list[int] = []
    real_submit = pool2._pool.submit

    def counting_submit(*args, **kwargs):
        future = real_submit(*args, **kwargs)
        submitted.append(sum(1 for f in in_flight if not f.done()))
        in_flight.append(future)
        return future

    in_flight: list = []
    monkeypatch.setattr(pool2._pool, "submit", counting_submit)
    pool2.map_scenarios(tasks, progress=lambda n: None)
    units = len(split_units(tasks, pool2.workers))
    assert len(submitted) == units > ex.JOB_UNITS_IN_FLIGHT_PER_WORKER * pool2.workers
    assert max(submitted) < ex.JOB_UNITS_IN_FLIGHT_PER_WORKER * pool2.workers
