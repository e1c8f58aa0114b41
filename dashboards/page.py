"""Self-contained HTML: plotly.js embedded once (works offline, no CDN), inline CSS and a small table sorter."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Sequence

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                 "toImageButtonOptions": {"format": "svg", "scale": 1}}  # vector figures for papers

STYLE = """
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --accent: #3559e0; --bg: #f7f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); }
header { padding: 18px 32px 10px; background: #fff; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .meta { color: var(--muted); font-size: 13px; }
nav { position: sticky; top: 0; z-index: 10; background: #fff; border-bottom: 1px solid var(--line);
      padding: 8px 32px; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; }
nav a { color: var(--accent); text-decoration: none; }
nav a.empty { color: var(--muted); }
main { padding: 8px 32px 48px; max-width: 1500px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 16px 0; padding: 14px 20px; }
section.empty { padding: 8px 20px; }
section h2 { margin: 0 0 6px; font-size: 18px; }
section.empty h2 { font-size: 15px; display: inline; margin-right: 10px; }
section h3 { margin: 16px 0 4px; font-size: 15px; }
p.intro { margin: 0 0 8px; color: var(--muted); }
p.note { margin: 4px 0; color: var(--muted); font-style: italic; }
section.empty p.note { display: inline; }
.figure { margin: 8px 0 4px; }
table.paper { border-collapse: collapse; margin: 8px 0 4px; font-variant-numeric: tabular-nums; }
table.paper caption { text-align: left; font-weight: 600; padding: 4px 0; }
table.paper th, table.paper td { padding: 4px 12px; border-bottom: 1px solid var(--line); text-align: left;
                                 white-space: nowrap; }
table.paper thead tr:first-child th { border-top: 2px solid var(--fg); }
table.paper thead tr:last-child th { border-bottom: 1.5px solid var(--fg); }
table.paper thead tr.groups th { text-align: center; border-bottom: 1px solid var(--line); cursor: default; }
.scroll { overflow-x: auto; }
table.paper tbody tr:last-child td { border-bottom: 2px solid var(--fg); }
table.paper td.num { text-align: right; }
table.paper td.mono { font-family: ui-monospace, monospace; font-size: 12px; }
table.sortable th[data-type] { cursor: pointer; user-select: none; }
table.sortable th:hover { color: var(--accent); }
table.sortable th[data-dir="asc"]::after { content: " ▲"; font-size: 10px; }
table.sortable th[data-dir="desc"]::after { content: " ▼"; font-size: 10px; }
table.paper tbody tr:hover { background: #f2f5ff; }
"""

# Click a header to sort by it (again to reverse). Numeric cells sort by data-v; empty values stay last.
SORTER_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[table.tHead.rows.length - 1].cells;  // below any column-group row
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.dataset.dir !== "asc", num = th.dataset.type === "num";
      Array.prototype.forEach.call(heads, function (h) { delete h.dataset.dir; });
      th.dataset.dir = asc ? "asc" : "desc";
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col];
        if (num) {
          var u = x.dataset.v === "" ? NaN : +x.dataset.v, v = y.dataset.v === "" ? NaN : +y.dataset.v;
          if (isNaN(u) || isNaN(v)) { return isNaN(u) - isNaN(v); }
          return asc ? u - v : v - u;
        }
        return (asc ? 1 : -1) * x.textContent.localeCompare(y.textContent, undefined, {numeric: true});
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


class Note(str):
    """Plain text saying why something is not shown (escaped when rendered)."""


@dataclass
class Section:
    """A titled part of the page: HTML fragments, figures and notes. With nothing but notes it is drawn as one
    line: its title and why it is empty."""

    title: str
    anchor: str
    intro: str = ""
    blocks: list[str | go.Figure] = field(default_factory=list)

    def add(self, block: str | go.Figure | None, missing: str = "") -> None:
        """Add a block (an HTML fragment or a figure), or when it is None the note ``missing``."""
        if block is not None:
            self.blocks.append(block)
        elif missing:
            self.blocks.append(Note(missing))

    @property
    def empty(self) -> bool:
        return all(isinstance(b, Note) for b in self.blocks)


def note_html(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def figure_html(figure: go.Figure, div_id: str) -> str:
    return '<div class="figure">' + pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=div_id,
                                                config=PLOTLY_CONFIG) + "</div>"


def render_page(title: str, meta: str, sections: Sequence[Section], plotly: bool = True) -> str:
    """The whole page. ``meta`` is an HTML line under the title (escape what you put in it). ``plotly=False``
    leaves plotly.js (4.8 MB) out of a page without figures."""
    nav, body, count = [], [], 0
    for section in sections:
        empty = section.empty
        nav.append(f'<a href="#{section.anchor}"{" class=empty" if empty else ""}>{html.escape(section.title)}</a>')
        if empty:
            reason = " ".join(section.blocks) or "no data"
            body.append(f'<section id="{section.anchor}" class="empty"><h2>{html.escape(section.title)}</h2>'
                        f"{note_html(reason)}</section>")
            continue
        parts = [f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>']
        if section.intro:
            parts.append(f'<p class="intro">{section.intro}</p>')
        for block in section.blocks:
            if isinstance(block, go.Figure):
                count += 1
                parts.append(figure_html(block, f"{section.anchor}-fig{count}"))
            elif isinstance(block, Note):
                parts.append(note_html(block))
            else:
                parts.append(block)
        body.append("".join(parts) + "</section>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        + (f'<script type="text/javascript">{get_plotlyjs()}</script>' if plotly else "") + "</head><body>"
        f"<header><h1>{html.escape(title)}</h1><div class=\"meta\">{meta}</div></header>"
        f"<nav>{''.join(nav)}</nav><main>{''.join(body)}</main>"
        f"<script>{SORTER_JS}</script></body></html>\n"
    )


__all__ = ["Note", "Section", "note_html", "figure_html", "render_page", "STYLE", "SORTER_JS", "PLOTLY_CONFIG"]
