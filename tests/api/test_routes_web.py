"""GET / (the planner page for browsers, the prototype's JSON for everyone else), /static, /master/*."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.web import financial_defaults, mine_time_zone, wants_html
from api.web import STATIC_DIR
from api.web.i18n import TEXTS, pick_language, texts
from tests.api.test_app import app_settings, copy_mine, inline_factory, wait_ready

#: What Chromium sends for a page.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.fixture(scope="module")
def client(trained_mine, tmp_path_factory):
    mine = copy_mine(trained_mine, tmp_path_factory.mktemp("web-mine"))
    app = create_app(app_settings(mine), executor_factory=inline_factory)
    app.version = "1.2.3"
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def page_data(html: str) -> dict:
    match = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "no page data"
    return json.loads(match.group(1))


@pytest.mark.parametrize("accept, html", [
    (BROWSER_ACCEPT, True), ("text/html", True), (None, False), ("*/*", False), ("application/json", False),
    ("application/json, text/html;q=0.5", False), ("text/html;q=0, */*", False),
])
def test_only_browsers_get_the_page(accept, html):
    assert wants_html(accept) is html


def test_root_keeps_the_prototypes_answer_for_non_browsers(client: TestClient):
    r = client.get("/")
    assert r.status_code == 200
    assert r.json() == {"status": "online", "service": "mining-ops-ai", "version": "1.2.3", "docs": "/docs"}


def test_the_page_has_the_master_data_by_name_and_the_prototypes_defaults(client: TestClient):
    r = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    roads = client.get("/master/roads").json()
    excavators = client.get("/master/excavators").json()
    assert roads and excavators
    assert f'<option value="{roads[0]["id"]}">{roads[0]["name"]} · ' in html
    assert f'<option value="{excavators[0]["id"]}">{excavators[0]["name"]} ({excavators[0]["code"]})</option>' in html
    data = page_data(html)
    assert data["lang"] == "id" and data["texts"]["run"] == "Jalankan simulasi"
    assert data["defaults"]["financial"] == {"HargaJualBatuBara": 800000, "HargaSolar": 15000,
                                             "BiayaPenaltiKeterlambatanKapal": 100000000,
                                             "BiayaRataRataInsiden": 50000000, "BiayaDemurragePerJam": 50000000}
    assert data["service"] == {"ready": True, "champion": "v1", "phase": "ready"}
    assert data["choices"]["schedules"] == client.get("/master/schedules").json()
    # every control of the page has a label (for=id) or an aria-label
    ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html))
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    assert ids - labelled == set()
    assert 'src="http' not in html and 'href="http' not in html  # nothing from another host


def test_language_from_query_cookie_then_browser(client: TestClient):
    english = client.get("/?lang=en", headers={"Accept": "text/html"}).text
    assert '<html lang="en">' in english and "Run simulation" in english
    client.cookies.set("mineops_lang", "en")
    try:
        assert page_data(client.get("/", headers={"Accept": "text/html"}).text)["locale"] == "en-GB"
    finally:
        client.cookies.clear()
    assert pick_language(None, None, "en-US,en;q=0.9,id;q=0.8") == "en"
    assert pick_language(None, None, "de-DE, id;q=0.5, en;q=0.4") == "id"
    assert pick_language(None, None, "fr") == "id"
    assert pick_language("xx", "en", "id") == "en"
    assert set(texts("id")) == set(texts("en")) == set(TEXTS)


def test_every_script_and_stylesheet_is_served_and_imports_only_local_modules(client: TestClient):
    html = client.get("/", headers={"Accept": "text/html"}).text
    for path in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(path).status_code == 200, path
    for script in (STATIC_DIR / "js").glob("*.js"):
        r = client.get(f"/static/js/{script.name}")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"]
        for target in re.findall(r'from "([^"]+)"', script.read_text()):
            assert target.startswith("./") and (script.parent / target).is_file(), (script.name, target)
        urls = set(re.findall(r"https?://[^\s\"'`]+", script.read_text()))
        assert urls <= {"http://www.w3.org/2000/svg"}, (script.name, urls)  # the SVG namespace is a name, not a request


def test_master_routes(client: TestClient):
    roads = client.get("/master/roads").json()
    assert [r["code"] for r in roads] == sorted(r["code"] for r in roads)
    assert {"id", "name", "distance_km", "road_condition"} <= set(roads[0])
    vessels = client.get("/master/vessels").json()
    schedules = client.get("/master/schedules").json()
    by_id = {v["id"]: v["name"] for v in vessels}
    assert schedules and all(s["vessel_name"] == by_id[s["vessel_id"]] for s in schedules)
    upcoming = client.get("/master/schedules?upcoming=true").json()
    assert upcoming == [s for s in schedules if s["upcoming"]]


def test_financial_defaults_are_the_prototypes():
    example = json.loads((Path(__file__).resolve().parents[2] / "contracts" / "ref-a.json").read_text())
    assert financial_defaults() == example["financial_params"]


def test_times_are_shown_on_the_mines_clock():
    assert mine_time_zone(7) == "Etc/GMT-7" and mine_time_zone(-3) == "Etc/GMT+3" and mine_time_zone(0) == "Etc/GMT"
    assert mine_time_zone(5.5) == "UTC"
