"""GET /runs/{run_id}/plots[/{name}]: a study's plot files, 404 for anything else, no path traversal."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.routes import plots as plots_route
from api.settings import Settings, get_settings
from simulator.plots import PLOTLY_JS, write_plots
from simulator.study import plots_folder, study_folder
from tests.simulator.test_plots import make_summary

RUN_ID = "study-0123456789abcdef"


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("logs")
    write_plots(make_summary(), plots_folder(root, RUN_ID))
    (study_folder(root, RUN_ID) / "spec.json").write_text('{"secret": "not a plot"}')
    (plots_folder(root, RUN_ID) / ".fleet_size.png.tmp").write_bytes(b"half a file")
    (root / "outside.png").write_bytes(b"\x89PNG outside")
    return root


@pytest.fixture(scope="module")
def client(logs):
    app = FastAPI()
    app.include_router(plots_route.router)
    app.dependency_overrides[get_settings] = lambda: Settings(logs_dir=logs)
    with TestClient(app) as c:
        yield c


def test_lists_the_studys_plots(client):
    r = client.get(f"/runs/{RUN_ID}/plots")
    assert r.status_code == 200
    names = r.json()["plots"]
    assert {"fleet_size.png", "fleet_size.html", "queue_heatmap.png", "queue_heatmap.html", "pareto.png",
            "pareto.html", PLOTLY_JS} == set(names)


@pytest.mark.parametrize("name,media", [("fleet_size.png", "image/png"), ("pareto.html", "text/html"),
                                        ("queue_heatmap.png", "image/png"), (PLOTLY_JS, "text/javascript")])
def test_serves_each_plot_with_its_media_type(client, logs, name, media):
    r = client.get(f"/runs/{RUN_ID}/plots/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(media)
    assert r.content == (plots_folder(logs, RUN_ID) / name).read_bytes()


def test_the_html_page_loads_its_library_from_the_served_folder(client):
    html = client.get(f"/runs/{RUN_ID}/plots/fleet_size.html").text
    assert 'src="plotly.min.js"' in html  # resolves to /runs/<id>/plots/plotly.min.js, served above


@pytest.mark.parametrize("path", [
    "/runs/study-unknown/plots/fleet_size.png",          # unknown run
    f"/runs/{RUN_ID}/plots/missing.png",                  # unknown plot
    f"/runs/{RUN_ID}/plots/.fleet_size.png.tmp",          # a temp file being written
    f"/runs/{RUN_ID}/plots/..%2Fspec.json",               # traversal inside the study
    f"/runs/{RUN_ID}/plots/%2E%2E%2F%2E%2E%2F%2E%2E%2Foutside.png",
    "/runs/%2E%2E/plots/outside.png",                     # traversal through the run id
    "/runs/..%2F..%2F/plots/outside.png",
    "/runs/study-unknown/plots",
])
def test_anything_but_a_listed_plot_is_404(client, path):
    r = client.get(path)
    assert r.status_code == 404, path
    assert b"PNG" not in r.content and b"secret" not in r.content
