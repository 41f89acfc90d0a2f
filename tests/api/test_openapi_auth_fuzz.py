"""The OpenAPI fuzzer's auth checks against the real server with auth on (``MINEOPS_AUTH=on``).

schemathesis (its CLI, as a deployment's CI would run it: ``schemathesis run --checks
ignored_auth,object_level_authorization`` with a Web Fuzzing Commons auth file listing two peers)
generates requests from openapi.json as an admin key of site A (the deployment's own site) and an
admin key of site B. Same role, different site, so anything one sees of the other's objects is an
object-level (site) leak, not a role one. Its checks:

- ``ignored_auth``: an operation that declares a security scheme and answers 2xx with credentials is
  replayed without them and with invalid ones; anything but 401/403 fails;
- ``object_level_authorization``: a successful read by one identity of an object it owns (a run id
  it listed with ``GET /runs`` or created) is replayed as the other identity; getting it fails.

Each site owns a run before the fuzzer starts (site A's from a real strategies request; site B's
written to the shared run store, as another deployment of site B would), and the fuzzer runs once
with each site first (the first identity is the one the fuzzer reads with). The test also reads the
fuzzer's own report to show the checks were exercised (probes without credentials answered 401; the
peer's read of the owner's run answered 404) and that no answer to one site carried the other's
run ids. Bounded: ``MAX_EXAMPLES`` per operation and phase; about a minute per order on 2 cores.
"""
from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.store import RunStore
from tests.api.test_app import contract, module_mine  # noqa: F401  (a fixture)
from tests.e2e_server import api_env, running_api
from tests.ollama_server import OllamaTestServer
from training.settings import ENV_PREFIX

#: Generated requests per operation and phase.
MAX_EXAMPLES = 8
#: Simulations a generated strategies request may ask for (the contracts' 2 x 2 x 30 fit; more is a 422).
GRID_LIMIT = 200
CHECKS = "ignored_auth,object_level_authorization"
SITE_A, SITE_B = "default", "north-pit"  # site A is the deployment's own (Settings.site)
ENV = {f"{ENV_PREFIX}AUTH": "on", f"{ENV_PREFIX}SIM_MAX_GRID_SIMULATIONS": str(GRID_LIMIT),
       f"{ENV_PREFIX}SIM_WORKERS": "1", f"{ENV_PREFIX}OLLAMA_TIMEOUT_S": "2",
       f"{ENV_PREFIX}RATE_LIMIT_HEAVY": "10000/minute"}  # the fuzzer is not what rate limits are tested with


def make_key(mine, role: str, site: str) -> str:
    """A key made with ``python -m api.keys create`` in the server's run store."""
    out = subprocess.run([sys.executable, "-m", "api.keys", "create", "--role", role, "--site", site,
                          "--name", f"fuzz {site}"], env=api_env(mine, "http://127.0.0.1:9", 0, ENV),
                         capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


def run_sites(mine) -> dict[str, set[str]]:
    """Run ids by site, as stored."""
    with sqlite3.connect(mine.logs / "runs.sqlite3") as db:
        rows = db.execute("SELECT run_id, site FROM runs").fetchall()
    out: dict[str, set[str]] = {}
    for run_id, site in rows:
        out.setdefault(site, set()).add(run_id)
    return out


def exchanges(report_dir: Path) -> list[dict[str, Any]]:
    """Every request the fuzzer sent (checks' probes included), from its NDJSON report: identity,
    whether it carried credentials, whether it was a probe, the URI, the status and the body."""
    out = []
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line).get("ScenarioFinished")
            recorder = (event or {}).get("recorder") or {}
            for case_id, node in (recorder.get("cases") or {}).items():
                interaction = (recorder.get("interactions") or {}).get(case_id) or {}
                response = interaction.get("response")
                if response is None:
                    continue
                content = response.get("content") or {}
                body = base64.b64decode(content["$base64"]) if "$base64" in content else \
                    json.dumps(content).encode()
                case = node["value"]
                out.append({"label": recorder.get("label"), "identity": case.get("auth_identity"),
                            "credentials": bool({"Authorization", "X-API-Key"} & set(case.get("headers") or {})),
                            "probe": node.get("parent_id") is not None, "uri": interaction["request"]["uri"],
                            "status": response["status_code"], "body": body.decode("utf-8", "replace")})
    return out


@pytest.mark.slow
def test_the_fuzzers_auth_checks_find_nothing(module_mine, tmp_path: Path):
    keys = {SITE_A: make_key(module_mine, "admin", SITE_A), SITE_B: make_key(module_mine, "admin", SITE_B)}
    with OllamaTestServer() as ollama, running_api(module_mine, ollama.url, env_extra=ENV) as api:
        seeded = httpx.post(f"{api.url}/get_top_3_strategies", json=contract("legacy-top3-request.json"),
                            headers={"Authorization": f"Bearer {keys[SITE_A]}"}, timeout=120)
        assert seeded.status_code == 200, seeded.text
        store = RunStore.from_url(f"sqlite:///{(module_mine.logs / 'runs.sqlite3').as_posix()}")
        try:  # site B's run: another deployment of site B sharing this run store would have written it
            store.save_run("run-of-site-b", request=contract("legacy-top3-request.json"), result=seeded.json(),
                           model_version="v1", timings={}, site=SITE_B)
        finally:
            store.close()
        schema = httpx.get(f"{api.url}/openapi.json").json()
        secured = {f"{method.upper()} {path}" for path, item in schema["paths"].items()
                   for method, op in item.items() if op.get("security", schema.get("security"))}
        for owner, peer in ((SITE_A, SITE_B), (SITE_B, SITE_A)):
            folder = tmp_path / f"{owner}-first"
            folder.mkdir()
            wfc = folder / "auth.wfc.json"
            wfc.write_text(json.dumps({"auth": [
                {"name": site, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {keys[site]}"}]}
                for site in (owner, peer)]}))
            config = folder / "schemathesis.toml"
            config.write_text(f'[auth.wfc]\npath = "{wfc.as_posix()}"\npeers = ["{owner}", "{peer}"]\n')
            run = subprocess.run(
                [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
                 f"{api.url}/openapi.json", "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES),
                 "--workers", "1", "--request-timeout", "60", "--suppress-health-check", "all",
                 # /live/* answers 503 without Redis (tests/api/test_routes_live.py runs it with one)
                 "--exclude-path-regex", "^/live", "--report", "ndjson", "--report-dir", str(folder / "report")],
                capture_output=True, text=True, cwd=folder, timeout=1200)
            assert run.returncode == 0, f"{owner} first:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"

            sent = exchanges(folder / "report")
            # ignored_auth was exercised: its probes without credentials, on many operations, were all refused
            # on every operation that declares a scheme and served the owner (and was probed at all)
            bare = [e for e in sent if e["probe"] and not e["credentials"]]
            served = {e["label"] for e in sent if e["identity"] == owner and not e["probe"]
                      and 200 <= e["status"] < 300} & secured
            assert served and served <= {e["label"] for e in bare}, sorted(served - {e["label"] for e in bare})
            assert {e["status"] for e in bare} <= {401, 403}, [(e["uri"], e["status"]) for e in bare]
            # object_level_authorization was exercised: the peer asked for a run of the owner's and got 404
            owned = run_sites(module_mine)[owner]
            replayed = [e for e in sent if e["identity"] == peer and e["probe"] and
                        any(e["uri"].endswith(f"/runs/{run_id}") for run_id in owned)]
            assert replayed and {e["status"] for e in replayed} == {404}, replayed
            # and nothing the peer received, anywhere in the run, names a run of the owner's
            leaks = [e["uri"] for e in sent if e["identity"] == peer and any(r in e["body"] for r in owned)
                     and not any(r in e["uri"] for r in owned)]
            assert not leaks, leaks
