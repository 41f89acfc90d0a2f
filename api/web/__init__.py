"""The planner's web page: server-rendered templates, small vanilla scripts and CSS (package data).

``api.routes.web`` serves ``GET /`` from ``templates/`` and ``/static`` from ``static/``; nothing is
fetched from another host, so the page works offline at a mine site. ``master`` turns the fleet's
master tables into the form's choices, ``i18n`` holds the page's texts in Indonesian and English.
"""
from __future__ import annotations

from pathlib import Path

#: Folder of the Jinja2 templates (package data).
TEMPLATES_DIR: Path = Path(__file__).resolve().parent / "templates"
#: Folder served under ``/static`` (package data).
STATIC_DIR: Path = Path(__file__).resolve().parent / "static"
