"""Executors: the same numbers whichever executor and worker ran them; noise shipped once per version."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator import executor as ex
from simulator.executor import InlineExecutor, LocalPoolExecutor, NoiseRef, ScenarioTask, run_task
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


def test_work_is_split_into_units_largest_first(pool2, noise):
    units = pool2._units(_tasks(noise))
    assert sum(stop - start for _, start, stop in units) == 4 * 7
    assert len(units) >= 2 * pool2.workers
    assert units[0][0] in (2, 3)  # a 9-truck scenario leads


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
    first, _ = ex._run_unit(by_ref, 0, 3)
    path.unlink()  # a second unit must not read the file again
    second, _ = ex._run_unit(by_ref, 3, 7)
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
        assert len(reports) == (len(pool2._units(tasks)) if executor is pool2 else len(tasks))


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
    units = len(pool2._units(tasks))
    assert len(submitted) == units > ex.JOB_UNITS_IN_FLIGHT_PER_WORKER * pool2.workers
    assert max(submitted) < ex.JOB_UNITS_IN_FLIGHT_PER_WORKER * pool2.workers
