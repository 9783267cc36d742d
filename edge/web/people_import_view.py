"""Console CSV import of people: upload or paste, preview every row's errors (nothing written), then confirm.

The confirm form carries the file's text back; it is checked again before anything is written
(edge.web.people_import), so what the preview showed is what the confirm does, unless someone enrolled a badge
meanwhile (that row is then refused with the reason).
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp.web_request import FileField

from edge import keys
from edge.web.auth import SESSION
from edge.web.people_import import COLUMNS, ImportLine, ImportRefused, check_csv, write_lines
from edge.web.people_view import base_context, site_tz

MAX_CSV_CHARS = 512 * 1024


def _page(
    request: web.Request,
    *,
    lines: list[ImportLine] | None = None,
    text: str = "",
    error: str | None = None,
    done: bool = False,
    status: int = 200,
) -> web.Response:
    context: dict[str, Any] = {
        **base_context(request),
        "columns": COLUMNS,
        "lines": lines,
        "text": text,
        "error": error,
        "done": done,
        "good": sum(1 for line in lines or [] if line.ok),
        "bad": sum(1 for line in lines or [] if not line.ok),
    }
    return aiohttp_jinja2.render_template("people_import.html", request, context, status=status)


async def import_page(request: web.Request) -> web.Response:
    """GET /people/import: the upload form."""
    return _page(request)


async def _csv_text(request: web.Request) -> str:
    """The CSV sent: an uploaded file (multipart) or the pasted text."""
    data = await request.post()
    upload = data.get("file")
    if isinstance(upload, FileField) and upload.filename:
        raw = upload.file.read(MAX_CSV_CHARS + 1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ImportRefused("the file is not UTF-8 text") from err
    else:
        text = str(data.get("csv", ""))
    if len(text) > MAX_CSV_CHARS:
        raise ImportRefused(f"the file is larger than {MAX_CSV_CHARS // 1024} KB")
    if "\x00" in text:
        raise ImportRefused("the file contains NUL characters")
    if not text.strip():
        raise ImportRefused("no CSV given: choose a file or paste rows")
    return text


def _check(request: web.Request, text: str) -> list[ImportLine]:
    index = request.app[keys.ACCESS].credential_index
    return check_csv(text, request.app[keys.PEOPLE].levels, lambda number: index.get(number) is not None)


async def preview(request: web.Request) -> web.Response:
    """Check every row and show the result; nothing is written."""
    try:
        text = await _csv_text(request)
        lines = _check(request, text)
    except ImportRefused as err:
        return _page(request, error=str(err), status=400)
    return _page(request, lines=lines, text=text)


async def confirm(request: web.Request) -> web.Response:
    """Check again, write every good row (one person each), report what was written and what was refused."""
    try:
        text = await _csv_text(request)
        lines = _check(request, text)
    except ImportRefused as err:
        return _page(request, error=str(err), status=400)
    by = request[SESSION].username
    await write_lines(lines, request.app[keys.PEOPLE], by, site_tz(request))
    written = sum(1 for line in lines if line.written_id is not None)
    refused = len(lines) - written
    await request.app[keys.JOURNAL].record(
        "audit",
        {
            "type": "people_imported",
            "written": written,
            "refused": refused,
            "refused_lines": [line.line for line in lines if line.written_id is None][:200],
            "by": by,
        },
        source=f"console:{by}",
        summary=f"{by} imported {written} people from CSV ({refused} rows refused)",
    )
    return _page(request, lines=lines, done=True)


def add_routes(app: web.Application) -> None:
    """Register the import pages (admins only: edge.web.roles)."""
    app.router.add_get("/people/import", import_page)
    app.router.add_post("/people/import", preview)
    app.router.add_post("/people/import/confirm", confirm)
