"""GET /: the planner's web page for browsers, the prototype's liveness JSON for everyone else.

A request that accepts ``text/html`` before JSON (a browser) gets the page, rendered on the server
from ``api/web/templates`` with the fleet's master data already in the form; anything else (the
prototype's dashboard, curl, monitoring) keeps getting ``{"status": "online", ...}``. Scripts and
styles are served from ``/static`` (package data): the page makes no request to another host.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.auth import Viewer, require_own_site
from api.web import STATIC_DIR, TEMPLATES_DIR, master
from api.web.i18n import LANGUAGE_COOKIE, LOCALES, pick_language, texts
from simulator.economics import LEGACY_KEYS, FinancialParams
from training.schema import MINE_UTC_OFFSET_HOURS

log = logging.getLogger(__name__)
router = APIRouter(tags=["web"])
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

#: Service name GET / reports to non-browser clients (the prototype's answer).
SERVICE_NAME = "mining-ops-ai"
#: Path the static files are served under.
STATIC_PATH = "/static"
#: Media types a browser's ``Accept`` lists before JSON.
_HTML_TYPES = ("text/html", "application/xhtml+xml")
#: Most excavator-count boxes the form offers (more loaders than this on one road is not a plan).
MAX_EXCAVATOR_CHOICES = 6
#: The prototype dashboard's truck counts (5, 10, 15): the form's default range.
DEFAULT_TRUCK_RANGE = {"from": 5, "to": 15, "step": 5}
#: The prototype dashboard's excavator counts.
DEFAULT_EXCAVATOR_COUNTS = (1, 2, 3)


def wants_html(accept: str | None) -> bool:
    """True when the ``Accept`` header ranks an HTML type above JSON (what browsers send for a page)."""
    best_html = best_json = 0.0
    for part in (accept or "").split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in _HTML_TYPES:
            best_html = max(best_html, q)
        elif media == "application/json":
            best_json = max(best_json, q)
    return best_html > 0 and best_html >= best_json


def mine_time_zone(offset_hours: float = MINE_UTC_OFFSET_HOURS) -> str:
    """The IANA name of the mine's fixed UTC offset for the browser's Intl API (+7 h -> 'Etc/GMT-7')."""
    if offset_hours != int(offset_hours):
        return "UTC"  # IANA Etc/ zones are whole hours only: fall back to UTC
    hours = int(offset_hours)
    return "Etc/GMT" if hours == 0 else f"Etc/GMT{-hours:+d}"


def financial_defaults() -> dict[str, float]:
    """The prototype's five financial parameters with the simulator's defaults (= the prototype's values)."""
    defaults = FinancialParams()
    return {key: getattr(defaults, attr) for key, attr in LEGACY_KEYS.items()}


def fleet_choices(state: Any) -> dict[str, Any]:
    """The form's units, computed once per fleet export (the cache returns the same object until a file
    changes); schedules are recomputed each time since "upcoming" moves with the clock."""
    export = state.fleet_cache.get()
    cached = getattr(state, "web_fleet_choices", None)
    if cached is None or cached[0] is not export:
        units = {"roads": master.roads(export), "excavators": master.excavators(export),
                 "vessels": master.vessels(export), "truck_count": master.haul_truck_count(export)}
        state.web_fleet_choices = cached = (export, units)
    return {**cached[1], "schedules": master.schedules(export)}


def page_context(state: Any, lang: str) -> dict[str, Any]:
    """Everything the template and the page's scripts need (master data from the fleet cache)."""
    settings = state.settings
    try:
        choices = fleet_choices(state)
        fleet_error = None
    except Exception as exc:  # an unreadable export must not hide the page: the form says why
        log.warning("planner page without master data: %s", exc)
        choices = {"roads": [], "excavators": [], "vessels": [], "schedules": [], "truck_count": 0}
        fleet_error = f"{type(exc).__name__}: {exc}"
    excavator_choices = list(range(1, max(1, min(MAX_EXCAVATOR_CHOICES, len(choices["excavators"]))) + 1))
    defaults = {
        "trucks": DEFAULT_TRUCK_RANGE,
        "excavators": [n for n in DEFAULT_EXCAVATOR_COUNTS if n in excavator_choices] or [1],
        "financial": financial_defaults(),
        "simulation": {"replications": settings.sim_replications, "duration_hours": settings.sim_duration_hours,
                       "seed": settings.sim_seed},
        "max_simulations": settings.sim_max_grid_simulations,
    }
    ready = bool(state.ready and state.served is not None)
    # roads and excavators are rendered into the form's selects; the scripts need only these
    script_choices = {k: choices[k] for k in ("vessels", "schedules", "truck_count")}
    page = {"lang": lang, "locale": LOCALES[lang], "time_zone": mine_time_zone(), "texts": texts(lang),
            "choices": script_choices,
            "vocabularies": master.vocabularies(), "defaults": defaults,
            "service": {"ready": ready, "champion": state.served.version if ready else None,
                        "phase": state.startup_phase}}
    return {"lang": lang, "t": page["texts"], "choices": choices, "vocab": page["vocabularies"],
            "defaults": defaults, "excavator_choices": excavator_choices, "service": page["service"],
            "fleet_error": fleet_error, "static": STATIC_PATH,
            # '</' cannot close the script element the JSON sits in
            "page_json": json.dumps(page, ensure_ascii=False).replace("</", "<\\/")}


@router.get("/", response_class=HTMLResponse, responses={200: {
    "description": "The planner page (HTML) for browsers; the prototype's liveness JSON otherwise",
    "content": {"text/html": {}, "application/json": {"example": {
        "status": "online", "service": SERVICE_NAME, "version": "1.0", "docs": "/docs"}}}}})
def root(request: Request, principal: Viewer, lang: str | None = None) -> Response:
    """The planner page (``Accept: text/html``), else the prototype's ``{"status": "online", ...}``.

    Viewers and up: the page carries the site's fleet (roads, loading units, vessels), so a key of
    another site gets 404 for it (the liveness JSON answers every viewer).
    """
    app = request.app
    if not wants_html(request.headers.get("accept")):
        return JSONResponse({"status": "online", "service": SERVICE_NAME, "version": app.version,
                             "docs": app.docs_url})
    require_own_site(principal, app.state.settings, "page")
    chosen = pick_language(lang, request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    response = templates.TemplateResponse(request, "index.html", page_context(app.state, chosen),
                                          headers={"Cache-Control": "no-store"})
    response.headers["Vary"] = "Accept, Accept-Language, Cookie"
    return response


def mount_static(app: FastAPI) -> None:
    """Serve ``api/web/static`` under ``/static``."""
    app.mount(STATIC_PATH, StaticFiles(directory=str(STATIC_DIR)), name="static")
