"""ModelBundle.predict: a request-sized batch runs on one thread (OpenMP, joblib), a large one keeps the machine's threads."""
from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_info, threadpool_limits

from training.bundle import PHASES, SERIAL_PREDICT_ROWS, ModelBundle, PhaseModel


def _openmp_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"]


class ThreadSpy:
    """A model that records the OpenMP thread count it was called with and predicts zeros."""

    def __init__(self):
        self.seen: list[list[int]] = []
        self.backends: list[str] = []

    def predict(self, X):
        from joblib.parallel import get_active_backend

        self.seen.append(_openmp_threads())
        self.backends.append(type(get_active_backend()[0]).__name__)
        return np.zeros(len(X))

    def predict_proba(self, X):
        self.seen.append(_openmp_threads())
        return np.zeros((len(X), 2))


def _bundle(spy: ThreadSpy) -> ModelBundle:
    return ModelBundle(version="spy", fuel=spy, payload=spy, delay=spy,
                       durations={p: PhaseModel(model=spy, sigma=0.1) for p in PHASES},
                       residuals={"payload": np.zeros(1), "fuel": np.zeros(1)}, delay_minutes=np.zeros(1),
                       reliability={})


def test_small_batches_predict_on_one_thread_and_large_ones_on_all():
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime the tree models use)

    with threadpool_limits(limits=3, user_api="openmp"):  # more than one, whatever the machine's cores
        before = _openmp_threads()
        assert before and all(n == 3 for n in before), "no OpenMP runtime to limit: the test would prove nothing"
        _check(before)


def _check(before: list[int]) -> None:
    spy = ThreadSpy()
    _bundle(spy).predict(pd.DataFrame({"x": np.zeros(45)}))
    assert spy.seen and all(threads == [1] * len(before) for threads in spy.seen)
    assert spy.backends and set(spy.backends) == {"SequentialBackend"}  # a forest sums its trees in order
    assert _openmp_threads() == before  # restored after the call
    spy.seen.clear()
    _bundle(spy).predict(pd.DataFrame({"x": np.zeros(SERIAL_PREDICT_ROWS)}))
    assert spy.seen and all(threads == before for threads in spy.seen)
