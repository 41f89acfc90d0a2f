"""The planner page in a real browser (Debian's chromium via Playwright) against the real service.

One server (``python -m api`` on a trained sample mine, chat through an Ollama-protocol test server)
serves every test; each test is one planner task read as a user's steps, located by label and role.
Screenshots of every step go to a pytest temporary folder (printed; never committed). Every request
the page makes is recorded and must go to the service itself.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e_server import RunningApi, running_api
from tests.ollama_server import OllamaTestServer, Reply
from tests.web.browser import chromium_or_skip, launch

pytestmark = pytest.mark.slow

#: A small grid (3 truck counts x 2 excavator counts x 30 replications) keeps each run about a second.
SMALL_GRID = {"alokasi_truk": [4, 8, 12], "jumlah_excavator": [1, 2]}
#: Longest wait for a simulation or a streamed answer on a loaded 2-core machine (ms).
SLOW_MS = 90_000
#: An answer without digits, so the grounding check (numbers must come from the run) passes it.
ANSWER_ID = "Opsi pertama memberi profit tertinggi dengan antrean yang lebih pendek daripada opsi kedua."
ANSWER_EN = "The first option earns the most profit and keeps the queue shorter than the second option."


@pytest.fixture(scope="module")
def ollama() -> Iterator[OllamaTestServer]:
    with OllamaTestServer() as server:
        yield server


@pytest.fixture(scope="module")
def api(trained_mine, tmp_path_factory, ollama) -> Iterator[RunningApi]:
    from tests.api.test_app import copy_mine

    mine = copy_mine(trained_mine, tmp_path_factory.mktemp("web-mine"))
    with running_api(mine, ollama.url, env_extra={"MINEOPS_SIM_WORKERS": "1"}) as server:
        yield server


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nplanner screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = launch(p, tmp_path_factory.mktemp("chromium-profile"), executable)
        context.set_default_timeout(30_000)
        yield context
        context.close()


class Visit:
    """A page of the browser with every request it makes recorded."""

    def __init__(self, context, api: RunningApi):
        self.page = context.new_page()
        self.api = api
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))

    def open(self, path: str = "/") -> float:
        """Load ``path`` and wait until the page's scripts ran; the load time in seconds."""
        started = time.perf_counter()
        self.page.goto(self.api.url + path)
        self.page.wait_for_selector("body[data-ready='true']")
        return time.perf_counter() - started

    def shot(self, folder: Path, name: str) -> None:
        self.page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    def foreign_requests(self) -> list[str]:
        own = urlsplit(self.api.url).netloc
        return [u for u in self.requests if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != own]

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def visit(browser, api) -> Iterator[Visit]:
    v = Visit(browser, api)
    yield v
    assert v.foreign_requests() == [], "the page asked another host"
    v.close()


def small_run(api: RunningApi, weather: str = "Cerah") -> dict:
    """A run made through the API (the page then opens it by id)."""
    body = {"fixed_conditions": {"weatherCondition": weather, "roadCondition": "GOOD", "shift": "SHIFT_1"},
            "decision_variables": SMALL_GRID, "simulation": {"replications": 10, "seed": 7}}
    r = httpx.post(f"{api.url}/get_top_3_strategies", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


# --- tests ---------------------------------------------------------------------------------------------

def test_plan_a_shift_shows_three_cards_with_intervals_charts_and_a_sortable_table(visit, api, shots):
    from playwright.sync_api import expect

    page = visit.page
    seconds = visit.open()
    print(f"\nplanner page loaded in {seconds:.3f} s (shared machine; figure, not a check)")
    road = httpx.get(f"{api.url}/master/roads").json()[1]
    loader = httpx.get(f"{api.url}/master/excavators").json()[0]
    schedule = httpx.get(f"{api.url}/master/schedules").json()[0]
    visit.shot(shots, "01-plan-form")

    plan = page.get_by_role("tabpanel", name="Rencana")
    plan.get_by_label("Cuaca").select_option(label="Hujan Ringan")
    plan.get_by_label("Kondisi jalan").select_option("FAIR")
    plan.get_by_label("Shift", exact=True).select_option("SHIFT_2")
    plan.get_by_label("Jalur angkut").select_option(road["id"])
    plan.get_by_label("Alat muat").select_option(loader["id"])
    plan.get_by_label("Jadwal kapal").select_option(schedule["id"])
    plan.get_by_label("Dump truck dari").fill("4")
    plan.get_by_label("sampai", exact=True).fill("12")
    plan.get_by_label("langkah").fill("4")
    plan.get_by_role("checkbox", name="3").uncheck()
    plan.locator("summary", has_text="Parameter keuangan").click()
    expect(plan.get_by_label("Harga jual batu bara (IDR/ton)")).to_have_value("800000")
    plan.locator("summary", has_text="Simulasi").click()
    plan.get_by_label("Replikasi").fill("20")
    visit.shot(shots, "02-plan-filled")
    page.get_by_role("button", name="Jalankan simulasi").click()

    cards = page.get_by_test_id("strategy-card")
    expect(cards).to_have_count(3, timeout=SLOW_MS)
    expect(page.get_by_role("status").filter(has_text="Selesai")).to_be_visible()
    for i in range(3):
        profit = cards.nth(i).locator("[data-metric='profit_idr']")
        expect(profit).to_contain_text("Rp")
        expect(profit).to_contain_text(re.compile(r"IK 95%: .+ – .+"))
    run_id = page.evaluate("location.hash").removeprefix("#run=")
    stored = httpx.get(f"{api.url}/runs/{run_id}").json()
    assert stored["request"]["fixed_conditions"] == {
        "weatherCondition": "HUJAN_RINGAN", "roadCondition": "FAIR", "shift": "SHIFT_2",
        "target_road_id": road["id"], "target_excavator_id": loader["id"], "target_schedule_id": schedule["id"]}
    assert stored["request"]["decision_variables"] == {"alokasi_truk": [4, 8, 12], "jumlah_excavator": [1, 2]}
    best = stored["result"]["top_3_strategies"][0]["strategy"]
    expect(cards.first).to_contain_text(f"{best['trucks']} Dump truck · {best['excavators']} Excavator")
    expect(page.locator("#vessel-analysis p")).to_have_count(3)

    # charts: one line per excavator count, every strategy a focusable point with its values
    expect(page.locator("#chart-profit .series")).to_have_count(2)
    expect(page.locator("#chart-profit .point")).to_have_count(6)
    expect(page.locator("#chart-pareto .point")).to_have_count(6)
    expect(page.locator("#chart-pareto .point.pareto")).to_have_count(len(stored["result"]["pareto_front"]))
    page.locator("#chart-profit .point").first.focus()
    expect(page.locator("#chart-profit .chart-tip")).to_contain_text("Rp")
    page.get_by_role("button", name="2 Excavator").click()
    expect(page.locator("#chart-profit .series").nth(1)).to_be_hidden()

    # the full table, sorted by trucks then by profit (descending on the second click)
    table = page.locator("#all-table")
    expect(table.locator("tbody tr")).to_have_count(6)
    page.get_by_role("button", name="Urutkan menurut Dump truck").click()
    expect(table.locator("th").nth(1)).to_have_attribute("aria-sort", "ascending")
    first_trucks = table.locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert first_trucks == sorted(first_trucks, key=int)
    page.get_by_role("button", name="Urutkan menurut Profit").click()
    page.get_by_role("button", name="Urutkan menurut Profit").click()
    expect(table.locator("th").nth(3)).to_have_attribute("aria-sort", "descending")
    visit.shot(shots, "03-results")


def test_ask_the_analyst_streams_the_answer_with_its_source(visit, api, ollama, shots):
    from playwright.sync_api import expect

    page = visit.page
    run = small_run(api)
    visit.open(f"/#run={run['run_id']}")
    expect(page.get_by_test_id("strategy-card")).to_have_count(3)

    ollama.script(Reply.text(ANSWER_ID, chunk_delay_s=0.12))
    page.get_by_label("Pertanyaan").fill("Mengapa opsi 1 lebih baik dari opsi 2?")
    page.get_by_role("button", name="Kirim").click()
    answer = page.locator(".msg.bot").last
    # streamed: part of the answer is on screen before the whole of it
    page.wait_for_function("() => { const m = [...document.querySelectorAll('.msg.bot')].pop();"
                           " return m && m.querySelector('.text').textContent.length > 0"
                           " && m.getAttribute('aria-busy') === 'true'; }", timeout=SLOW_MS)
    partial = answer.locator(".text").inner_text()
    assert 0 < len(partial) < len(ANSWER_ID)
    visit.shot(shots, "04-chat-streaming")
    expect(answer.locator(".source")).to_have_text("Sumber: model (qwen2.5:7b)", timeout=SLOW_MS)
    expect(answer.locator(".text")).to_have_text(ANSWER_ID)
    question = ollama.chat_bodies[-1]["messages"]
    assert any("Mengapa opsi 1" in m.get("content", "") for m in question)

    # the model fails: the deterministic explanation answers, and the page says so
    ollama.script(Reply.failure(500, "model crashed"))
    page.get_by_label("Pertanyaan").fill("Berapa profit opsi 1?")
    page.get_by_label("Pertanyaan").press("Enter")
    fallback = page.locator(".msg.bot").last
    expect(fallback.locator(".source")).to_have_text("Sumber: penjelasan deterministik (cadangan)", timeout=SLOW_MS)
    expect(fallback.locator(".text")).not_to_be_empty()
    visit.shot(shots, "05-chat-answers")


def test_english_page_formats_numbers_and_chats_in_english(visit, api, ollama, shots):
    from playwright.sync_api import expect

    page = visit.page
    run = small_run(api)
    visit.open(f"/#run={run['run_id']}")
    page.get_by_label("Bahasa").select_option("en")
    page.wait_for_selector("html[lang='en'] body[data-ready='true']")
    expect(page.get_by_role("tab", name="Plan")).to_be_visible()
    cards = page.get_by_test_id("strategy-card")
    expect(cards).to_have_count(3)  # the hash kept the open run across the reload
    profit = run["top_3_strategies"][0]["strategy"]["metrics"]["profit_idr"]["mean"]
    expect(cards.first.locator("[data-metric='profit_idr'] .value")).to_have_text(f"IDR {round(profit):,}")
    expect(cards.first).to_contain_text("95% CI")

    ollama.script(Reply.text(ANSWER_EN, chunk_delay_s=0.02))
    page.get_by_label("Question").fill("Why is option 1 better than option 2?")
    page.get_by_role("button", name="Send").click()
    answer = page.locator(".msg.bot").last
    expect(answer.locator(".source")).to_have_text("Source: model (qwen2.5:7b)", timeout=SLOW_MS)
    expect(answer.locator(".text")).to_have_text(ANSWER_EN)
    visit.shot(shots, "06-english")
    page.context.clear_cookies()  # the language cookie: the other tests read the default (Indonesian) page


def test_download_the_run_as_xlsx_and_csv(visit, api, shots, tmp_path):
    from openpyxl import load_workbook
    from playwright.sync_api import expect

    page = visit.page
    run = small_run(api, weather="Berawan")
    visit.open(f"/#run={run['run_id']}")
    expect(page.get_by_test_id("strategy-card")).to_have_count(3)
    with page.expect_download() as info:
        page.get_by_role("link", name="Unduh XLSX").click()
    download = info.value
    assert download.suggested_filename == f"mineops-run-{run['run_id']}.xlsx"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    wb = load_workbook(path, read_only=True)
    assert wb.sheetnames == ["Summary", "Top 3", "All strategies", "Request"]
    summary = dict(wb["Summary"].iter_rows(min_row=2, values_only=True))
    assert summary["run_id"] == run["run_id"] and summary["conditions.weather"] == "BERAWAN"
    top = list(wb["Top 3"].iter_rows(values_only=True))
    header, rows = top[0], top[1:]
    assert len(rows) == 3
    for row, item in zip(rows, run["top_3_strategies"]):
        record = dict(zip(header, row))
        profit = item["strategy"]["metrics"]["profit_idr"]
        assert (record["trucks"], record["excavators"]) == (item["strategy"]["trucks"], item["strategy"]["excavators"])
        assert record["profit_idr_mean"] == pytest.approx(profit["mean"])
        assert record["profit_idr_ci_low"] == pytest.approx(profit["ci_low"])
        assert record["profit_idr_ci_high"] == pytest.approx(profit["ci_high"])
    assert wb["All strategies"].max_row == 1 + len(run["all_strategies"])

    with page.expect_download() as info:
        page.get_by_role("link", name="Unduh CSV").click()
    text = Path(info.value.path()).read_text()
    assert text.splitlines()[0].startswith("rank,scenario_key,trucks,excavators")
    assert len(text.splitlines()) == 1 + len(run["all_strategies"])
    visit.shot(shots, "07-downloads")


def test_add_a_vessel_shows_the_apis_field_error_then_saves(visit, api, shots):
    from playwright.sync_api import expect

    page = visit.page
    visit.open()
    page.get_by_role("tab", name="Data").click()
    page.get_by_label("Nama kapal").fill("MV Uji Planner")
    page.get_by_label("Kapasitas (ton)").fill("-5")
    page.locator("#vessel-form").get_by_role("button", name="Simpan").click()
    error = page.locator("#vessel-capacity-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("greater than")  # the API's 422 message for capacity, shown as is
    expect(page.get_by_label("Kapasitas (ton)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Kapasitas (ton)")).to_be_focused()
    visit.shot(shots, "08-vessel-field-error")

    page.get_by_label("Kapasitas (ton)").fill("60000")
    page.locator("#vessel-form").get_by_role("button", name="Simpan").click()
    expect(page.locator("#vessel-form .form-status")).to_contain_text("Kapal MV Uji Planner berhasil ditambahkan")
    expect(error).to_be_hidden()
    expect(page.locator("#vessels-table")).to_contain_text("MV Uji Planner")

    # a schedule for it: too much tonnage is refused on its field, then an upcoming call is saved
    form = page.locator("#schedule-form")
    form.get_by_label("Kapal").select_option(label="MV Uji Planner (60.000 t)")
    form.get_by_label("Pelabuhan muat").fill("Jetty Muara Pantai")
    form.get_by_label("Tujuan").fill("Guangzhou")
    form.get_by_label("ETA muat (WIB)").fill("2030-01-10T08:00")
    form.get_by_label("Batas muat / ETS (WIB)").fill("2030-01-12T20:00")
    form.get_by_label("Tonase rencana (ton)").fill("70000")
    form.get_by_role("button", name="Simpan").click()
    expect(page.locator("#schedule-plannedQuantity-error")).to_contain_text("more than the capacity")
    form.get_by_label("Tonase rencana (ton)").fill("50000")
    form.get_by_role("button", name="Simpan").click()
    expect(form.locator(".form-status")).to_contain_text("Jadwal berhasil dibuat")
    page.get_by_role("tab", name="Rencana").click()
    upcoming = page.locator("#schedule optgroup[label='Akan datang'] option")
    expect(upcoming).to_contain_text(["MV Uji Planner"])
    visit.shot(shots, "09-data-saved")


def test_runs_history_filters_opens_and_compares(visit, api, shots):
    from playwright.sync_api import expect

    page = visit.page
    a = small_run(api, weather="Kabut")
    b = small_run(api, weather="Mendung")
    visit.open()
    runs_tab = page.get_by_role("tab", name="Riwayat")
    page.get_by_role("tab", name="Rencana").focus()
    page.keyboard.press("ArrowRight")  # tabs follow the arrow keys
    expect(runs_tab).to_be_focused()
    expect(runs_tab).to_have_attribute("aria-selected", "true")
    table = page.locator("#runs-table")
    expect(table).to_contain_text(a["run_id"])
    history = page.get_by_role("tabpanel", name="Riwayat")
    history.get_by_label("Cuaca").select_option(label="Kabut")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text(a["run_id"])
    history.get_by_label("Cuaca").select_option("")
    page.get_by_label(f"Pilih run {a['run_id']}").check()
    page.get_by_label(f"Pilih run {b['run_id']}").check()
    page.get_by_role("button", name="Bandingkan yang dipilih").click()
    compare = page.locator("#compare table")
    expect(compare.locator("thead th")).to_have_count(3)
    expect(compare).to_contain_text("KABUT")
    expect(compare).to_contain_text("MENDUNG")
    visit.shot(shots, "10-runs-compare")
    table.locator("tr", has_text=b["run_id"]).get_by_role("button", name="Buka").click()
    expect(page.get_by_role("tab", name="Rencana")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#results-meta")).to_contain_text(b["run_id"])


def test_live_tab_says_when_live_data_is_not_configured(visit, api, shots):
    from playwright.sync_api import expect

    page = visit.page
    visit.open()
    page.get_by_role("tab", name="Langsung").click()
    expect(page.locator("#live-status")).to_have_text(re.compile(r"belum dikonfigurasi|Menunggu|Diperbarui"))
    visit.shot(shots, "11-live")


def test_live_tab_shows_the_shift_kpis_from_the_live_routes_contract(visit, shots):
    """The page against the live routes' contract (snapshot, then SSE init/update), served by the browser's
    router so the test does not need the live worker: GET /live/kpis and /live/kpis/stream."""
    from playwright.sync_api import expect

    page = visit.page
    snapshot = {"site": "main", "shift": "2026-12-02/SHIFT_1", "shift_start": "2026-12-02T00:00:00Z",
                "generated_at": "2026-12-02T03:00:00Z", "ttl_seconds": 60, "age_seconds": 1, "stale": False,
                "data": {"tonnes": 1234.5, "plan_tonnes": 5000, "loads": 41, "mean_cycle_time_min": 31.25,
                         "trucks_working": 12}}
    update = {**snapshot, "data": {**snapshot["data"], "tonnes": 1290.0, "loads": 43}}
    page.route("**/live/kpis", lambda route: route.fulfill(json=snapshot))
    page.route("**/live/kpis/stream", lambda route: route.fulfill(
        status=200, content_type="text/event-stream",
        body=f"event: init\ndata: {json.dumps(snapshot)}\n\n: keep-alive\n\nevent: update\ndata: {json.dumps(update)}\n\n"))
    visit.open()
    page.get_by_role("tab", name="Langsung").click()
    expect(page.locator("[data-kpi='loads'] dd")).to_have_text("43")
    expect(page.locator("[data-kpi='tonnes'] dt")).to_have_text("Tonase (t)")
    expect(page.locator("[data-kpi='tonnes'] dd")).to_have_text("1.290")
    expect(page.locator("#live-status")).to_contain_text("2026-12-02/SHIFT_1")
    visit.shot(shots, "12-live-kpis")


def test_a_service_that_wants_credentials_gets_them_from_the_key_form(visit, shots):
    """Against the auth contract (401 without credentials; a bearer API key accepted), served by the
    browser's router: the page asks for a key, keeps it for the tab and sends it with every request."""
    from playwright.sync_api import expect

    page = visit.page
    seen: list[str | None] = []

    def runs(route):
        auth = route.request.headers.get("authorization")
        seen.append(auth)
        if auth == "Bearer mk_test_secret":
            route.fulfill(json=[])
        else:
            route.fulfill(status=401, json={"detail": "credentials required"})

    page.route("**/runs?limit=200", runs)
    visit.open()
    page.get_by_role("tab", name="Riwayat").click()
    key = page.get_by_label("Kunci API atau token")
    expect(key).to_be_focused()
    expect(page.locator("#key-message")).to_have_text("Layanan ini meminta kunci API: masukkan kunci Anda.")
    visit.shot(shots, "13-api-key")
    key.fill("mk_test_secret")
    page.get_by_role("button", name="Masuk").click()
    page.wait_for_selector("body[data-ready='true']")
    page.get_by_role("tab", name="Riwayat").click()
    expect(page.locator("#runs-table")).to_contain_text("Belum ada run.")
    expect(page.locator("#key-form")).to_be_hidden()
    assert seen[0] is None and seen[-1] == "Bearer mk_test_secret"


def test_while_the_service_warms_up_run_waits_and_the_status_follows_ready(visit, shots):
    """A page rendered during warm-up (its data says not ready) polls GET /ready: Run is disabled until 200."""
    from playwright.sync_api import expect

    page = visit.page
    answers = iter([(503, {"status": "starting", "phase": "warming simulator pool"})])

    def starting_page(route):
        html = route.fetch().text()
        route.fulfill(status=200, content_type="text/html; charset=utf-8",
                      body=html.replace('"service": {"ready": true', '"service": {"ready": false'))

    def ready(route):
        status, body = next(answers, (200, {"status": "ready", "champion": "v1", "workers": 1}))
        route.fulfill(status=status, json=body)

    page.route(re.compile(r".*/(\?.*)?$"), starting_page)
    page.route("**/ready", ready)
    visit.open()
    run = page.get_by_role("button", name="Jalankan simulasi")
    expect(run).to_be_disabled()  # the next poll is 2 s after the first answer
    expect(page.locator("#service-status")).to_have_text("Layanan sedang disiapkan (warming simulator pool)…")
    expect(run).to_be_enabled(timeout=15_000)
    expect(page.locator("#service-status")).to_have_text("Siap · model v1")


#: The synchronous limit of the jobs server: the plan below (3 x 2 strategies x 20 replications = 120
#: simulations) is above it, so the service answers 202 and the page follows the job.
JOB_SYNC_LIMIT = 60


@pytest.fixture(scope="module")
def job_api(trained_mine, tmp_path_factory, ollama) -> Iterator[RunningApi]:
    from tests.api.test_app import copy_mine

    mine = copy_mine(trained_mine, tmp_path_factory.mktemp("web-job-mine"))
    with running_api(mine, ollama.url, env_extra={"MINEOPS_SIM_WORKERS": "1",
                                                  "MINEOPS_SIM_MAX_GRID_SIMULATIONS": str(JOB_SYNC_LIMIT)}) as server:
        yield server


def test_a_long_grid_runs_as_a_job_the_page_follows_to_its_result(browser, job_api, shots):
    """202 + Location: the page reads the job's progress events, then its result, and shows the run."""
    from playwright.sync_api import expect

    visit = Visit(browser, job_api)
    page = visit.page
    try:
        visit.open()
        plan = page.get_by_role("tabpanel", name="Rencana")
        plan.get_by_label("Dump truck dari").fill("4")
        plan.get_by_label("sampai", exact=True).fill("12")
        plan.get_by_label("langkah").fill("4")
        plan.get_by_role("checkbox", name="3").uncheck()
        plan.locator("summary", has_text="Simulasi").click()
        plan.get_by_label("Replikasi").fill("20")
        with page.expect_response(lambda r: r.url.endswith("/get_top_3_strategies")) as posted:
            page.get_by_role("button", name="Jalankan simulasi").click()
        assert posted.value.status == 202
        location = posted.value.headers["location"]
        cards = page.get_by_test_id("strategy-card")
        expect(cards).to_have_count(3, timeout=SLOW_MS)
        expect(page.get_by_role("status").filter(has_text="Selesai")).to_be_visible()
        visit.shot(shots, "14-job-result")

        job = httpx.get(f"{job_api.url}{location}").json()
        assert job["status"] == "done" and job["done"] == job["total"] == 120
        assert page.evaluate("location.hash") == f"#run={job['run_id']}"  # the job's run is the one shown
        # the page followed the job: its events (progress up to the total), then its result
        assert f"{job_api.url}{location}/events" in visit.requests and f"{job_api.url}{location}" in visit.requests
        assert page.evaluate("[document.getElementById('run-progress-bar').value, "
                             "document.getElementById('run-progress-bar').max]") == [120, 120]
        best = job["result"]["top_3_strategies"][0]["strategy"]
        expect(cards.first).to_contain_text(f"{best['trucks']} Dump truck · {best['excavators']} Excavator")
        assert visit.foreign_requests() == []
    finally:
        visit.close()
