"""Prometheus metrics: HTTP (via prometheus-fastapi-instrumentator) and the domain's own.

Names follow Prometheus conventions (base units, unit suffix, ``_total`` for counters) with the
``mineops_`` prefix. Dashboards and alert rules in ``monitoring/`` use exactly these names; a
test checks every rule and panel query returns data against a live API.

Metrics live in a ``Metrics`` object built in ``lifespan`` on its own registry (tests build many
apps). With several uvicorn workers ``python -m api`` sets prometheus_client's multiprocess
directory before anything imports it; ``/metrics`` then aggregates every worker's files. Facts
that live on disk (champion, retrain history, latest drift report) are read at scrape time by
``FileFactsCollector``, so they are right whichever worker answers and survive restarts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

#: Latency buckets for HTTP routes and simulations, seconds (issue: 0.05 s to 30 s).
LATENCY_BUCKETS_S: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)
#: Grid sizes (simulations per request) of interest: the reference grid is 990.
GRID_BUCKETS: tuple[float, ...] = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 20000)


@dataclass
class Metrics:
    """Every domain metric of the service, registered on ``registry``."""

    registry: CollectorRegistry

    def __post_init__(self) -> None:
        r = self.registry
        self.simulations = Counter("mineops_simulations", "Simulated shifts (scenarios x replications) run",
                                   registry=r)
        self.simulation_requests = Counter("mineops_simulation_requests", "Strategy requests by outcome",
                                           ["outcome"], registry=r)
        self.simulation_seconds = Histogram("mineops_simulation_duration_seconds",
                                            "Wall time of one strategy request's simulations",
                                            buckets=LATENCY_BUCKETS_S, registry=r)
        self.grid_simulations = Histogram("mineops_grid_simulations", "Simulations per strategy request",
                                          buckets=GRID_BUCKETS, registry=r)
        self.queue_depth = Gauge("mineops_simulator_queue_depth", "Strategy requests waiting or running",
                                 multiprocess_mode="livesum", registry=r)
        self.queue_limit = Gauge("mineops_simulator_queue_limit", "Requests admitted before 503",
                                 multiprocess_mode="livesum", registry=r)
        self.jobs = Counter("mineops_jobs", "Background jobs of long grids by outcome (accepted, done, failed)",
                            ["outcome"], registry=r)
        for outcome in ("accepted", "done", "failed"):  # series from the start: rates are 0, not absent
            self.jobs.labels(outcome)
        self.jobs_active = Gauge("mineops_jobs_active", "Background jobs of long grids queued or running",
                                 multiprocess_mode="livesum", registry=r)
        self.cache_requests = Counter("mineops_cache_requests", "Strategies requests by ranking-cache result "
                                      "(hit: answered from the cache; miss: simulated and stored)", ["result"],
                                      registry=r)
        self.predictions = Counter("mineops_predictions", "Model predictions made (rows predicted)", registry=r)
        self.prediction_log_dropped = Counter("mineops_prediction_log_dropped",
                                              "Prediction-log rows dropped because the writer fell behind",
                                              registry=r)
        self.chat_requests = Counter("mineops_chat_requests", "Chat answers by source (llm or fallback)",
                                     ["source"], registry=r)
        self.chat_seconds = Histogram("mineops_chat_duration_seconds", "Chat answer latency",
                                      buckets=LATENCY_BUCKETS_S, registry=r)
        self.chat_tokens = Counter("mineops_chat_tokens", "LLM tokens by kind (prompt, completion)",
                                   ["kind"], registry=r)
        self.ollama_errors = Counter("mineops_ollama_errors", "Ollama failures by reason", ["reason"], registry=r)
        self.ollama_up = Gauge("mineops_ollama_up", "1 when Ollama answered the last probe with the model listed",
                               multiprocess_mode="max", registry=r)
        self.champion = Gauge("mineops_champion_info", "1 for the model version this process serves",
                              ["version"], multiprocess_mode="max", registry=r)
        self.model_reloads = Counter("mineops_model_reloads", "Champion hot reloads", registry=r)
        self.best_profit = Gauge("mineops_run_best_profit_idr", "Expected profit of the latest run's best strategy",
                                 multiprocess_mode="mostrecent", registry=r)
        self.best_production = Gauge("mineops_run_best_production_t",
                                     "Expected production of the latest run's best strategy",
                                     multiprocess_mode="mostrecent", registry=r)
        self.best_fuel_ratio = Gauge("mineops_run_best_fuel_ratio_l_per_t",
                                     "Fuel ratio of the latest run's best strategy",
                                     multiprocess_mode="mostrecent", registry=r)
        self.best_queue_hours = Gauge("mineops_run_best_queue_hours",
                                      "Truck queue hours of the latest run's best strategy",
                                      multiprocess_mode="mostrecent", registry=r)
        self.audit_failures = Counter("mineops_audit_write_failures", "Audit rows that could not be written",
                                      registry=r)
        self.rate_limited = Counter("mineops_rate_limited", "Heavy requests refused with 429 (per-key rate limit)",
                                    registry=r)
        self.notifications = Counter("mineops_notifications", "Event deliveries by receiver and outcome "
                                     "(delivered, failed after every attempt)", ["receiver", "outcome"], registry=r)
        self.notification_attempt_failures = Counter("mineops_notification_attempt_failures",
                                                     "Failed delivery attempts (each retry counts)", ["receiver"],
                                                     registry=r)

    def set_champion(self, version: str, previous: str | None = None) -> None:
        """Mark ``version`` as served (and ``previous`` as no longer served)."""
        if previous and previous != version:
            self.champion.labels(version=previous).set(0)
        self.champion.labels(version=version).set(1)


class FileFactsCollector(Collector):
    """Gauges read from files at scrape time: champion age, retrain history, latest drift."""

    def __init__(self, models_dir: Path, logs_dir: Path):
        self.models_dir = Path(models_dir)
        self.logs_dir = Path(logs_dir)

    def _champion(self) -> Iterable[GaugeMetricFamily]:
        created = GaugeMetricFamily("mineops_champion_created_timestamp_seconds",
                                    "When the registry's champion version was trained (Unix time)",
                                    labels=["version"])
        try:
            pointer = json.loads((self.models_dir / "champion.json").read_text())
            version = pointer["version"]
            meta = json.loads((self.models_dir / version / "metadata.json").read_text())
            from datetime import datetime

            ts = datetime.fromisoformat(str(meta["created_at"]).replace("Z", "+00:00")).timestamp()
            created.add_metric([version], ts)
        except (OSError, KeyError, ValueError):
            pass
        yield created

    def _retrain(self) -> Iterable[GaugeMetricFamily]:
        runs = GaugeMetricFamily("mineops_retrain_runs", "Retrain runs recorded, by outcome", labels=["outcome"])
        last_ts = GaugeMetricFamily("mineops_retrain_last_timestamp_seconds",
                                    "When the last retrain of each outcome finished (Unix time)", labels=["outcome"])
        last_s = GaugeMetricFamily("mineops_retrain_last_duration_seconds", "Duration of the last retrain")
        last_metric = GaugeMetricFamily("mineops_retrain_last_metric",
                                        "Holdout metrics of the last retrain's candidate", labels=["metric"])
        counts: dict[str, int] = {}
        last: dict[str, float] = {}
        latest: dict | None = None
        path = self.logs_dir / "retrain" / "history.jsonl"
        try:
            lines = path.read_text().splitlines()
        except OSError:
            lines = []
        from datetime import datetime

        for line in lines:
            try:
                rec = json.loads(line)
                outcome = str(rec.get("outcome", "unknown"))
                ts = datetime.fromisoformat(str(rec["finished_at"]).replace("Z", "+00:00")).timestamp()
            except (ValueError, KeyError, TypeError):
                continue
            counts[outcome] = counts.get(outcome, 0) + 1
            last[outcome] = max(last.get(outcome, 0.0), ts)
            latest = rec
        for outcome in ("promoted", "rejected", "bad_input"):
            runs.add_metric([outcome], counts.get(outcome, 0))
            if outcome in last:
                last_ts.add_metric([outcome], last[outcome])
        if latest is not None:
            if isinstance(latest.get("seconds"), (int, float)):
                last_s.add_metric([], float(latest["seconds"]))
            for key in ("fuel_r2", "payload_r2", "delay_auc"):
                if isinstance(latest.get(key), (int, float)):
                    last_metric.add_metric([key], float(latest[key]))
        yield from (runs, last_ts, last_s, last_metric)

    def _drift(self) -> Iterable[GaugeMetricFamily]:
        share = GaugeMetricFamily("mineops_drift_share", "Share of monitored columns drifted (latest report)")
        detected = GaugeMetricFamily("mineops_drift_detected", "1 when the latest drift report declared drift")
        when = GaugeMetricFamily("mineops_drift_last_run_timestamp_seconds", "When the latest drift report ran")
        column = GaugeMetricFamily("mineops_drift_column_score", "Drift score per column (latest report)",
                                   labels=["column"])
        try:
            rep = json.loads((self.logs_dir / "drift" / "latest.json").read_text())
        except (OSError, ValueError):
            rep = None
        if isinstance(rep, dict) and rep.get("status") in ("ok", "drift"):
            from datetime import datetime

            share.add_metric([], float(rep.get("drift_share", 0.0)))
            detected.add_metric([], 1.0 if rep.get("status") == "drift" else 0.0)
            try:
                when.add_metric([], datetime.fromisoformat(
                    str(rep["generated_at"]).replace("Z", "+00:00")).timestamp())
            except (KeyError, ValueError):
                pass
            for col, info in (rep.get("per_column") or {}).items():
                score = info.get("drift_score") if isinstance(info, dict) else None
                if isinstance(score, (int, float)):
                    column.add_metric([col], float(score))
        yield from (share, detected, when, column)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield from self._champion()
        yield from self._retrain()
        yield from self._drift()
