"""One self-contained HTML file from the report's data: inline CSS and script, the data
as JSON, and nothing fetched from anywhere.

Strings from a log reach the page only inside the JSON, which is escaped so that no
``<`` survives to end the script element early, and the script puts them into the
page as text, never as markup.  The Content-Security-Policy admits only this
script and style (by hash) and no network at all, so even a slip could not load or
run anything else.
"""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from ..kernel import syscalls
from .layout import COLOURS, KIND_LABELS

# Characters that would let JSON text end or confuse the surrounding <script> element.
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_JSON_ESCAPES["\u2029"] = "\\u2029"


def json_for_script(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _JSON_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def _template_file(name: str) -> str:
    return resources.files("vmsim.views").joinpath("templates", name).read_text()


def _csp_hash(text: str) -> Markup:
    digest = hashlib.sha256(text.encode()).digest()
    return Markup("'sha256-" + base64.b64encode(digest).decode() + "'")


def render(data: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_file),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    script = _template_file("report.js")
    style = _template_file("report.css")
    page = dict(data, palette=COLOURS, kindLabels=KIND_LABELS)
    return env.get_template("report.html.j2").render(
        title=data["title"],
        source=data["source"],
        calls=[row.name for row in syscalls.modelled()],
        style=Markup(style),
        script=Markup(script),
        data=Markup(json_for_script(page)),
        script_hash=_csp_hash(script),
        style_hash=_csp_hash(style),
    )
