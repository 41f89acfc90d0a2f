"""Who may do what (api/auth.py, api/audit.py, api/ratelimit.py, api/keys.py) on the real app.

Every route declares a role; with auth on, no credentials is 401, a role too low is 403, an admin's
write is 200 and leaves an audit row; a key of one site never sees another site's data on any read
route (the test walks the app's routes, so a new read route must be taught here); JWTs of an
external identity provider (a local JWKS server) carry role and site; heavy routes are rate
limited per key; auth off is refused off loopback.
"""
from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import re
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import AuthConfigError, KeyStore, Role, RouteInfo, app_routes, check_auth_mode, is_loopback
from api.keys import main as keys_main
from simulator.study import plots_folder
from tests.api.test_app import app_settings, contract, inline_factory
from tests.paths import REPO
from training.drift import DRIFT_DIR, LATEST_FILE
from training.registry import Registry, site_registry_root

SITE_A = "default"  # the deployment's own site (Settings.site)
SITE_B = "north-pit"
RUN_A = "run-of-site-a"
JOB_A = "job-of-site-a"
PLOT = "fleet_size.png"
VESSEL = {"name": "MV Audit", "capacity": 55000}


def make_app(paths, **overrides):
    return create_app(app_settings(paths, **overrides), executor_factory=inline_factory)


@pytest.fixture
def mine(trained_mine_copy):
    """The trained mine plus a site-A run, a study plot of that run and a drift report."""
    folder = plots_folder(trained_mine_copy.logs, RUN_A)
    folder.mkdir(parents=True)
    (folder / PLOT).write_bytes(b"\x89PNG\r\n\x1a\n")
    (trained_mine_copy.logs / DRIFT_DIR).mkdir(parents=True)
    (trained_mine_copy.logs / DRIFT_DIR / LATEST_FILE).write_text(json.dumps({"status": "ok", "dataset_drift": False}))
    return trained_mine_copy


@pytest.fixture
def client(mine) -> Iterator[TestClient]:
    app = make_app(mine, auth="on")
    with TestClient(app) as c:
        c.app.state.store.save_run(RUN_A, request={"r": 1}, result={"top_3_strategies": []}, model_version="v1",
                                   timings={}, site=SITE_A)
        jobs = c.app.state.jobs.store  # a finished long-grid job of site A that produced RUN_A
        jobs.create(JOB_A, site=SITE_A, total=990, request={"r": 1}, owner="test")
        jobs.finish(JOB_A, RUN_A, done=990)
        yield c


def key(client: TestClient, role: str, site: str = SITE_A) -> dict[str, str]:
    _, token = KeyStore(client.app.state.store.engine).create(Role[role], site, f"test {role}")
    return {"Authorization": f"Bearer {token}"}


def api_routes(app) -> list[RouteInfo]:
    routes = app_routes(app)
    assert len(routes) >= 10, f"the route walk found only {[r.path for r in routes]}"
    return routes


# --- every route declares a role ------------------------------------------------------------------------

def test_every_route_declares_a_role(mine):
    app = make_app(mine)
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in api_routes(app) if r.role is None]
    assert not undeclared, ("routes without a role: add dependencies=[requires(Role.X)] or [PUBLIC], or a "
                            f"Viewer/Planner/Admin parameter (api/auth.py): {undeclared}")
    roles = {r.path: r.role for r in api_routes(app)}
    assert roles["/health"] == "public" and roles["/runs"] == "viewer"
    assert roles["/get_top_3_strategies"] == "planner" and roles["/add_vessel"] == "admin"
    assert roles["/audit"] == "admin"
    assert roles["/jobs/{job_id}"] == roles["/jobs/{job_id}/events"] == "viewer"


def test_openapi_documents_the_security_schemes(client: TestClient):
    doc = client.get("/openapi.json").json()
    assert {"HTTPBearer", "APIKeyHeader"} <= set(doc["components"]["securitySchemes"])
    assert doc["paths"]["/runs"]["get"]["security"]
    assert "security" not in doc["paths"]["/health"]["get"]


# --- 401, 403, 200 + audit --------------------------------------------------------------------------------

def _url(route: RouteInfo) -> str:
    fill = {"run_id": RUN_A, "name": PLOT, "job_id": JOB_A}
    missing = [p for p in re.findall(r"{(\w+)", route.path) if p not in fill]
    assert not missing, f"teach tests/api/test_auth.py how to fill {missing} of {route.path}"
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: fill[m.group(1)], route.path)


def test_without_credentials_every_declared_route_is_401(client: TestClient):
    for route in api_routes(client.app):
        if route.role == "public":
            continue
        for method in route.methods - {"HEAD"}:
            r = client.request(method, _url(route), json={})
            assert r.status_code == 401, f"{method} {route.path}: {r.status_code} {r.text}"
            assert r.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/health").status_code == 200


def test_a_bad_or_revoked_key_is_401(client: TestClient):
    assert client.get("/runs", headers={"Authorization": "Bearer mk_0000_nope"}).status_code == 401
    headers = key(client, "viewer")
    assert client.get("/runs", headers=headers).status_code == 200
    key_id = headers["Authorization"].split("_")[1]
    assert KeyStore(client.app.state.store.engine).revoke(key_id)
    assert client.get("/runs", headers=headers).status_code == 401
    token = headers["Authorization"].removeprefix("Bearer ")
    wrong_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert client.get("/runs", headers={"X-API-Key": wrong_secret}).status_code == 401


def test_viewer_may_not_add_a_vessel_and_admin_may_with_an_audit_row(client: TestClient, mine):
    viewer, planner, admin = key(client, "viewer"), key(client, "planner"), key(client, "admin")
    assert client.post("/add_vessel", json=VESSEL, headers=viewer).status_code == 403
    assert client.post("/add_vessel", json=VESSEL, headers=planner).status_code == 403
    assert "MV Audit" not in (mine.data / "vessels.csv").read_text()
    r = client.post("/add_vessel", json=VESSEL, headers={**admin, "X-Request-ID": "req-audit-1"})
    assert r.status_code == 200, r.text
    vessel_id = r.json()["id"]
    assert client.get("/audit", headers=viewer).status_code == 403
    rows = client.get("/audit", headers=admin).json()
    ok = [row for row in rows if row["status"] == 200]
    assert len(ok) == 1
    row = ok[0]
    assert row["route"] == "/add_vessel" and row["method"] == "POST" and row["role"] == "admin"
    assert row["site"] == SITE_A and row["request_id"] == "req-audit-1"
    assert row["subject"].startswith("key:") and row["change"]["id"] == vessel_id
    assert row["change"]["values"]["name"] == "MV Audit"
    denied = [row for row in rows if row["status"] == 403]
    assert {d["role"] for d in denied} == {"viewer", "planner"}  # refused writes are audited too


def test_a_planner_may_simulate_and_chat_but_a_viewer_may_not(client: TestClient):
    viewer = key(client, "viewer")
    assert client.post("/get_top_3_strategies", json=contract("legacy-top3-request.json"),
                       headers=viewer).status_code == 403
    assert client.post("/ask_chatbot", json=contract("legacy-chat-request.json"), headers=viewer).status_code == 403
    r = client.post("/ask_chatbot", json=contract("legacy-chat-request.json"), headers=key(client, "planner"))
    assert r.status_code == 200 and "jawaban_ai" in r.json()


# --- sites -------------------------------------------------------------------------------------------------

#: Read routes whose own-site answer needs a live Redis (503 "not configured" here); their isolation is the
#: same ``visible_site`` rule as /live/shifts, which is checked with data below.
NEEDS_REDIS = {"/live/kpis", "/live/kpis/stream"}
#: What of site A may leak: its run, vessel and drift marker, and its name as a site.
SITE_A_MARKERS = (RUN_A, JOB_A, PLOT, VESSEL["name"], '"dataset_drift"', f'"site":"{SITE_A}"', f'"site": "{SITE_A}"')


def test_a_key_of_another_site_sees_nothing_of_this_site_on_any_read_route(client: TestClient):
    own, other = key(client, "admin", SITE_A), key(client, "admin", SITE_B)
    client.post("/add_vessel", json=VESSEL, headers=own)  # an audit row of site A
    own, other = ({**h, "Accept": "text/html, application/json"} for h in (own, other))  # pages as browsers ask
    checked = []
    for route in api_routes(client.app):
        if "GET" not in route.methods or route.role == "public":
            continue
        url = _url(route)
        if route.path not in NEEDS_REDIS:
            mine_r = client.get(url, headers=own)
            assert mine_r.status_code == 200, f"site A's own {url}: {mine_r.status_code} {mine_r.text[:200]}"
            # a 200 for site A's run id is its data; a listing must not be empty, or the check proves nothing
            assert RUN_A in url or mine_r.text.strip() not in ("[]", "{}", ""), f"{url}: site A's own answer is empty"
        theirs = client.get(url, headers=other)
        if theirs.status_code != 404:
            assert theirs.status_code in (200, 503), f"{url}: site B got {theirs.status_code} (expected 404, not 403)"
            leaked = [m for m in SITE_A_MARKERS if m in theirs.text]
            assert not leaked, f"{url} shows site A's data {leaked} to site B: {theirs.text[:200]}"
            if route.path not in NEEDS_REDIS:
                assert theirs.content != mine_r.content, f"{url}: site B sees exactly what site A sees"
        asking = client.get(url, params={"site": SITE_A}, headers=other)  # naming site A outright
        assert asking.status_code in (404, theirs.status_code), f"{url}?site={SITE_A}: {asking.status_code}"
        if "site" in {p.name for p in route.query_params}:
            assert asking.status_code == 404, f"{url}?site={SITE_A} answered site B with {asking.status_code}"
        checked.append(url)
    assert {"/runs", f"/runs/{RUN_A}", "/drift/latest", "/audit", f"/runs/{RUN_A}/plots/{PLOT}",
            "/live/shifts", "/live/kpis", "/", "/master/vessels", f"/runs/{RUN_A}/export.csv",
            f"/jobs/{JOB_A}", f"/jobs/{JOB_A}/events"} <= set(checked)


def test_another_sites_key_cannot_simulate_here_or_chat_about_this_sites_run(client: TestClient):
    other = key(client, "planner", SITE_B)
    r = client.post("/get_top_3_strategies", json=contract("legacy-top3-request.json"), headers=other)
    assert r.status_code == 404
    r = client.post("/ask_chatbot", json={"question": "why?", "run_id": RUN_A}, headers=other)
    assert r.status_code == 422 and f"run {RUN_A} not found" in r.text
    assert client.post("/add_vessel", json=VESSEL, headers=key(client, "admin", SITE_B)).status_code == 404


def register_for_site(models: Path, site: str, copies: int) -> Registry:
    """``copies`` versions in ``site``'s registry under ``models``, each the default site's champion re-registered
    as ``site``'s (the same trained pipelines: a stand-in for a model trained on that site's data)."""
    import shutil

    source = Registry(models)
    champion = source.champion()
    meta = {k: v for k, v in source.metadata(champion).items() if k not in ("files", "library_versions", "site")}
    registry = Registry(site_registry_root(models, site))
    registry.root.mkdir(parents=True, exist_ok=True)

    def write(folder: Path) -> None:
        for item in source.path(champion).iterdir():
            if item.name != "metadata.json":
                (shutil.copytree if item.is_dir() else shutil.copy)(item, folder / item.name)

    for _ in range(copies):
        registry.promote(registry.create_version(write, meta))
    return registry


def test_a_deployment_serves_its_own_sites_models_and_shows_them_to_no_other_site(mine):
    north = register_for_site(mine.models, SITE_B, copies=2)  # site B's registry: v1, v2 (champion)
    assert Registry(mine.models).champion() == "v1" and north.champion() == "v2"
    with TestClient(make_app(mine, auth="on", site=SITE_B)) as c:
        from tests.api.test_app import wait_ready

        assert wait_ready(c)["champion"] == "v2"  # site B's champion, not the default site's v1
        assert c.app.state.served.bundle.metadata["site"] == SITE_B
        theirs, own = key(c, "planner", SITE_A), key(c, "planner", SITE_B)
        body = contract("legacy-top3-request.json")
        assert c.post("/get_top_3_strategies", json=body, headers=theirs).status_code == 404
        r = c.post("/get_top_3_strategies", json=body, headers=own)
        assert r.status_code == 200 and r.json()["model_version"] == "v2"
        assert c.get(f"/runs/{r.json()['run_id']}", headers=theirs).status_code == 404
        assert c.get("/drift/latest", headers=key(c, "admin", SITE_A)).status_code == 404
        scraped = c.get("/metrics").text
        assert 'mineops_champion_info{version="v2"} 1.0' in scraped
        assert "mineops_champion_created_timestamp_seconds " in scraped  # read from site B's champion pointer
    with TestClient(make_app(mine, auth="on")) as c:  # the default site's deployment on the same models folder
        from tests.api.test_app import wait_ready

        assert wait_ready(c)["champion"] == "v1"
        assert c.app.state.served.bundle.metadata.get("site", SITE_A) == SITE_A


# --- modes -------------------------------------------------------------------------------------------------

def test_anonymous_role_grants_one_role_to_requests_without_credentials(mine):
    with TestClient(make_app(mine, auth="on", anonymous_role="viewer")) as c:
        assert c.get("/runs").status_code == 200
        assert c.post("/add_vessel", json=VESSEL).status_code == 403
        assert c.get("/runs", headers={"Authorization": "Bearer mk_0000_nope"}).status_code == 401


def test_auth_off_is_allowed_only_on_loopback(mine):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    check_auth_mode("on", "0.0.0.0")
    with pytest.raises(AuthConfigError, match="MINEOPS_AUTH=off while listening on 0.0.0.0"):
        make_app(mine, auth="off", api_host="0.0.0.0")
    with TestClient(make_app(mine)) as c:  # the embedded default: off on 127.0.0.1, prototype bodies as before
        assert c.post("/add_vessel", json=VESSEL).status_code == 200


def test_python_m_api_refuses_auth_off_on_all_addresses(tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "MINEOPS_AUTH": "off",
           "MINEOPS_LOGS_DIR": str(tmp_path / "logs")}
    proc = subprocess.run([sys.executable, "-m", "api", "--host", "0.0.0.0", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "refusing to start: MINEOPS_AUTH=off while listening on 0.0.0.0" in proc.stderr
    assert "MINEOPS_AUTH=on" in proc.stderr


# --- python -m api.keys ---------------------------------------------------------------------------------------

def test_keys_command_creates_lists_and_revokes(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    assert keys_main(["--database-url", url, "create", "--role", "planner", "--site", "pit-2", "--name", "PC 3"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("mk_")
    assert keys_main(["--database-url", url, "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["role"], r["site"], r["name"], r["revoked_at"]) for r in rows] == [("planner", "pit-2", "PC 3", None)]
    secret = token.split("_", 2)[2]
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("runs.sqlite3*")).decode("latin-1")
    assert len(secret) >= 40 and secret not in stored  # only its hash is stored
    assert keys_main(["--database-url", url, "revoke", rows[0]["key_id"]]) == 0
    assert keys_main(["--database-url", url, "revoke", rows[0]["key_id"]]) == 2
    with pytest.raises(SystemExit):
        keys_main(["--database-url", url, "create", "--role", "owner"])


# --- JWTs of an external identity provider ----------------------------------------------------------------------

@pytest.fixture
def idp() -> Iterator[dict[str, Any]]:
    """An RSA key and a JWKS document served on 127.0.0.1 (the identity provider's public keys)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    issuer = "https://idp.example.test/"

    def token(role="viewer", site=SITE_A, iss=issuer, exp_in=300, aud="mineops", key=private, alg="RS256"):
        claims = {"sub": "alice", "iss": iss, "aud": aud, "exp": int(time.time()) + exp_in,
                  "mineops_role": role, "mineops_site": site}
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": "k1"})

    try:
        yield {"issuer": issuer, "jwks_url": f"http://127.0.0.1:{server.server_port}/jwks.json", "token": token}
    finally:
        server.shutdown()
        server.server_close()


def test_jwts_of_the_identity_provider_carry_role_and_site(mine, idp):
    app = make_app(mine, auth="on", jwt_issuer=idp["issuer"], jwt_jwks_url=idp["jwks_url"], jwt_audience="mineops")
    with TestClient(app) as c:
        c.app.state.store.save_run(RUN_A, request={}, result={}, model_version="v1", timings={}, site=SITE_A)

        def get(tok, url="/runs"):
            return c.get(url, headers={"Authorization": f"Bearer {tok}"})

        assert [r["run_id"] for r in get(idp["token"]()).json()] == [RUN_A]
        assert get(idp["token"](site=SITE_B)).json() == []
        assert get(idp["token"](site=SITE_B), f"/runs/{RUN_A}").status_code == 404
        assert c.post("/add_vessel", json=VESSEL, headers={"Authorization": f"Bearer {idp['token']()}"}).status_code == 403
        assert c.post("/add_vessel", json=VESSEL,
                      headers={"Authorization": f"Bearer {idp['token'](role='admin')}"}).status_code == 200
        for bad in (idp["token"](iss="https://evil.test/"), idp["token"](exp_in=-3600), idp["token"](aud="other"),
                    idp["token"](role="owner"), idp["token"](key="a-shared-secret-of-32-bytes-long!", alg="HS256")):
            r = get(bad)
            assert r.status_code == 401, r.text


# --- rate limits ---------------------------------------------------------------------------------------------------

def test_heavy_routes_are_rate_limited_per_key_with_retry_after(mine):
    with TestClient(make_app(mine, auth="on", rate_limit_heavy="2/minute")) as c:
        first, second = key(c, "planner"), key(c, "planner")
        body = contract("legacy-chat-request.json")
        assert [c.post("/ask_chatbot", json=body, headers=first).status_code for _ in range(2)] == [200, 200]
        r = c.post("/ask_chatbot", json=body, headers=first)
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert c.post("/ask_chatbot", json=body, headers=second).status_code == 200  # another key's budget
        assert c.get("/runs", headers=first).status_code == 200  # reads are not limited
        assert "mineops_rate_limited_total 1.0" in c.get("/metrics").text
