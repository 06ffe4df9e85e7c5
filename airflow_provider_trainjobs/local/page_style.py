"""What every console page shares: the stylesheet, state colours, the page shell and the styled 404.

Pages carry no script and submit no form (the service's Content-Security-Policy allows neither: guard.py),
so every filter is a plain link. Every value from a job, label or log is HTML-escaped by the callers.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

STATE_COLOURS = {
    "SUCCEEDED": "#1e8e3e",
    "FAILED": "#d93025",
    "CANCELLED": "#5f6368",
    "CANCELLING": "#e8710a",
    "RUNNING": "#1a73e8",
    "PREPARING": "#f9ab00",
    "QUEUED": "#f9ab00",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#202124;background:#fff}
h1{font-size:22px;margin:0 0 12px;word-break:break-all}
h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #dadce0;padding-bottom:4px}
a{color:#1a73e8;text-decoration:none}a:hover{text-decoration:underline}
nav.top{font-size:13px;margin-bottom:12px;color:#5f6368}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}
.chip{display:inline-block;padding:1px 8px;margin:1px 2px;border-radius:10px;background:#e8f0fe;color:#174ea6;
font-size:12px}
.filters{font-size:13px;margin:8px 0}.filters a,.filters b{margin-right:10px}
.filters b{color:#202124}
table{border-collapse:collapse;font-size:13px}
table.wide{width:100%}
td,th{border:1px solid #dadce0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f4}
table.meta th{width:140px}
tr.best td{background:#e6f4ea;font-weight:600}
pre{background:#f8f9fa;border:1px solid #dadce0;padding:10px;font-size:12px;overflow:auto;max-height:420px;
white-space:pre-wrap;word-break:break-all}
.error{background:#fce8e6;border:1px solid #d93025;color:#a50e0e;padding:8px 12px;white-space:pre-wrap}
.sev-ERROR,.sev-CRITICAL{color:#a50e0e}.sev-WARNING{color:#b06000}
.muted{color:#5f6368}
.notfound{max-width:640px;margin:64px auto;padding:24px 32px;border:1px solid #dadce0;border-radius:8px}
.notfound h1{color:#a50e0e}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:system-ui,sans-serif}
"""


def badge(state: str, element_id: str = "") -> str:
    colour = STATE_COLOURS.get(state, "#5f6368")
    attr = f' id="{element_id}"' if element_id else ""
    return f'<span class="badge"{attr} style="background:{colour}">{escape(state)}</span>'


def url(path: str, **query: str | None) -> str:
    """``path`` with the non-empty ``query`` items, escaped for an HTML attribute."""
    items = {k: v for k, v in query.items() if v}
    return escape(path + ("?" + urlencode(items) if items else ""))


def shell(title: str, body: str, *, refresh: int | None = None) -> str:
    """A complete page: charset, optional auto-refresh, the stylesheet, a link back to the job index."""
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta}<title>{escape(title)}</title><style>{CSS}</style></head>"
        f'<body><nav class="top"><a href="/console">All jobs</a> · trainjobs-local</nav>{body}</body></html>\n'
    )


def message_page(title: str, text: str, project: str) -> str:
    """A styled page for what the console cannot show (404, a bad filter): the reason and a way back."""
    body = (
        f'<div class="notfound" id="not-found"><h1>{escape(title)}</h1>'
        f"<p>{escape(text)} in project <code>{escape(project)}</code> on this local service.</p>"
        f'<p><a href="{url("/console", project=project)}">See every job of the project</a>'
        " · or run <code>trainjobs-local status</code></p></div>"
    )
    return shell(title, body)


def not_found_page(what: str, project: str) -> str:
    """The styled 404: what was asked for, and where to look instead."""
    return message_page("Not found", what, project)
