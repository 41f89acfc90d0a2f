"""Every PromQL expression in monitoring/ (alert rules, Grafana panel targets) and the metric names it reads.

Used by the static checks here and by the live test that runs a real Prometheus against the API:
iterate :func:`rule_expressions` and :func:`panel_targets`, turn Grafana variables into a plain query
with :func:`instant_query`, and check names with :func:`metric_names` / :func:`selectors`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

MONITORING_DIR = Path(__file__).resolve().parents[2] / "monitoring"
PROMETHEUS_CONFIG = MONITORING_DIR / "prometheus" / "prometheus.yml"
DASHBOARD_DIR = MONITORING_DIR / "grafana" / "dashboards"


@dataclass(frozen=True)
class RuleExpr:
    """One alerting or recording rule's expression."""

    file: Path
    group: str
    name: str  # the alert (or recorded series) name
    kind: str  # "alert" or "record"
    expr: str


@dataclass(frozen=True)
class PanelTarget:
    """One query of one Grafana panel."""

    file: Path
    dashboard_uid: str
    panel_id: int
    panel_title: str
    ref_id: str
    expr: str
    instant: bool  # True: the panel shows the latest value (stat, table); False: a range over time

    @property
    def label(self) -> str:
        """Readable id for test names: ``uid/panel-id/refId``."""
        return f"{self.dashboard_uid}/{self.panel_id}/{self.ref_id}"


# ----------------------------------------------------------------------------------------- files
def rule_files(config: Path = PROMETHEUS_CONFIG) -> list[Path]:
    """Rule files named by ``rule_files`` in the Prometheus config, resolved as Prometheus does (globs too)."""
    cfg = yaml.safe_load(config.read_text()) or {}
    out: list[Path] = []
    for pattern in cfg.get("rule_files") or []:
        matches = sorted(config.parent.glob(pattern)) if not Path(pattern).is_absolute() else [Path(pattern)]
        out.extend(matches)
    return out


def dashboard_files(folder: Path = DASHBOARD_DIR) -> list[Path]:
    """Dashboard JSON files Grafana's file provider loads."""
    return sorted(folder.glob("*.json"))


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, including panels nested in (collapsed) rows."""
    for panel in dashboard.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


# ----------------------------------------------------------------------------------------- expressions
def rule_expressions(files: list[Path] | None = None) -> list[RuleExpr]:
    """Every rule expression of ``files`` (default: the rule files the Prometheus config loads)."""
    out: list[RuleExpr] = []
    for path in rule_files() if files is None else files:
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                kind = "alert" if "alert" in rule else "record"
                out.append(RuleExpr(path, str(group["name"]), str(rule[kind]), kind, str(rule["expr"]).strip()))
    return out


def panel_targets(files: list[Path] | None = None) -> list[PanelTarget]:
    """Every Prometheus target of every panel of ``files`` (default: all dashboards); row panels have none."""
    out: list[PanelTarget] = []
    for path in dashboard_files() if files is None else files:
        dash = json.loads(path.read_text())
        for panel in iter_panels(dash):
            for target in panel.get("targets") or []:
                out.append(PanelTarget(
                    path, str(dash.get("uid")), int(panel["id"]), str(panel.get("title", "")),
                    str(target.get("refId", "")), str(target.get("expr", "")).strip(),
                    bool(target.get("instant")) and not target.get("range"),
                ))
    return out


_GRAFANA_VARS = ("__rate_interval", "__interval", "__range")
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def instant_query(expr: str, rate_interval: str = "1m", interval: str = "15s", range_: str = "5m") -> str:
    """``expr`` with Grafana's ``$__rate_interval``, ``$__interval`` and ``$__range`` replaced by durations.

    Raises ValueError on any other ``$variable`` (dashboards here define no template variables).
    """
    values = {"__rate_interval": rate_interval, "__interval": interval, "__range": range_}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise ValueError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VAR.sub(sub, expr)


# ----------------------------------------------------------------------------------------- PromQL lexing
_TOKEN = re.compile(
    r"""
    (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<comment>\#[^\n]*)
  | (?P<var>\$\{\w+\}|\$\w+)
  | (?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:[a-zA-Z]+(?:\d+[a-zA-Z]+)*)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@:])
  | (?P<ws>\s+)
    """,
    re.VERBOSE,
)
#: Aggregation operators: always keywords, whether followed by "(" or by "by"/"without".
AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile", "limitk", "limit_ratio",
})
#: Keywords followed by a parenthesised list of label names.
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
#: Other keywords and literals that look like identifiers.
KEYWORDS = (frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"})
            | AGGREGATIONS | LABEL_LIST_KEYWORDS)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    start: int
    end: int


def _tokens(expr: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"cannot lex PromQL at {pos}: {expr[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        if kind not in ("ws", "comment"):
            out.append(_Tok(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    return out


def _close(toks: list[_Tok], i: int, opening: str, closing: str) -> int:
    """Index of the token closing the bracket opened at ``toks[i]``."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].kind == "op" and toks[j].text == opening:
            depth += 1
        elif toks[j].kind == "op" and toks[j].text == closing:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unbalanced {opening!r} in PromQL")


def _name_matcher(toks: list[_Tok]) -> str | None:
    """The metric name of a ``{__name__="x", ...}`` matcher list, if it names one exactly."""
    for a, b, c in zip(toks, toks[1:], toks[2:]):
        if a.text == "__name__" and b.text == "=" and c.kind == "str":
            return c.text[1:-1]
    return None


def _vector_selectors(expr: str) -> list[tuple[str | None, str]]:
    """(metric name or None, selector source text) for every vector selector of ``expr``."""
    toks = _tokens(expr)
    out: list[tuple[str | None, str]] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if tok.kind == "ident":
            low = tok.text.lower()
            if low in LABEL_LIST_KEYWORDS and nxt is not None and nxt.text == "(":
                i = _close(toks, i + 1, "(", ")") + 1
                continue
            if low in KEYWORDS or (nxt is not None and nxt.text == "("):
                i += 1  # keyword, aggregation or function call
                continue
            end = tok.end
            if nxt is not None and nxt.text == "{":
                j = _close(toks, i + 1, "{", "}")
                end = toks[j].end
                i = j
            out.append((tok.text, expr[tok.start:end]))
        elif tok.kind == "op" and tok.text == "{":
            j = _close(toks, i, "{", "}")
            out.append((_name_matcher(toks[i + 1:j]), expr[tok.start:toks[j].end]))
            i = j
        elif tok.kind == "op" and tok.text == "[":
            i = _close(toks, i, "[", "]")  # range or subquery durations
        i += 1
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (functions, keywords, label names and durations excluded)."""
    return {name for name, _ in _vector_selectors(expr) if name}


def selectors(expr: str) -> list[str]:
    """Vector selectors of ``expr`` as written, without range or offset: ``up{job="x"}``, ``mineops_drift_share``."""
    return [text for _, text in _vector_selectors(expr)]


# ----------------------------------------------------------------------------------------- exported names
#: Series Prometheus itself writes: per-target scrape facts and the alert state.
PROMETHEUS_SERIES = frozenset({
    "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
    "scrape_series_added", "ALERTS", "ALERTS_FOR_STATE",
})
_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
             "summary": ("_sum", "_count"), "info": ("_info",), "unknown": ("",)}


def exported_metric_families() -> dict[str, frozenset[str]]:
    """Series names the API exposes, by metric family, from api.metrics and the instrumentator's defaults.

    ``Metrics`` and the HTTP metrics are built on a fresh registry and ``FileFactsCollector`` is read
    from empty folders, so a metric added to api/metrics.py is known here without editing this file;
    the live path's metrics come from their catalogue (``api.live.LIVE_METRICS``).
    """
    import tempfile

    from prometheus_client import CollectorRegistry
    from prometheus_fastapi_instrumentator import metrics as http_metrics

    from api.metrics import FileFactsCollector, Metrics

    registry = CollectorRegistry()
    Metrics(registry)
    http_metrics.default(registry=registry)
    families = list(registry.collect())
    with tempfile.TemporaryDirectory() as empty:
        families += list(FileFactsCollector(Path(empty), Path(empty)).collect())
    out = {f.name: frozenset(f.name + suffix for suffix in _SUFFIXES[f.type]) for f in families}
    from api.live import LIVE_METRICS  # read from Redis at scrape time when the live path is configured

    out.update({name: frozenset(name + suffix for suffix in _SUFFIXES[kind]) for name, (kind, _) in LIVE_METRICS.items()})
    return out


def exported_metric_names() -> frozenset[str]:
    """Every series name the API exposes (``mineops_simulations_total``, ``http_requests_total``, ...)."""
    return frozenset().union(*exported_metric_families().values())


# ----------------------------------------------------------------------------------------- live runs
def live_prometheus_config(target: str, scrape_interval: str = "1s", evaluation_interval: str = "1s",
                           config: Path = PROMETHEUS_CONFIG) -> dict[str, Any]:
    """The shipped Prometheus config pointed at ``target`` ("127.0.0.1:PORT"), faster, rule paths absolute.

    Dump it with ``yaml.safe_dump`` into a temporary folder and start ``prometheus --config.file=...``.
    """
    cfg = yaml.safe_load(config.read_text())
    cfg.setdefault("global", {}).update(scrape_interval=scrape_interval, evaluation_interval=evaluation_interval,
                                        scrape_timeout=scrape_interval)
    cfg["rule_files"] = [str(p) for p in rule_files(config)]
    for job in cfg.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            static["targets"] = [target]
    return cfg
