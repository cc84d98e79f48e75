"""Blocks to text: one document, rendered to Markdown and to self-contained HTML, so both always say the same.

A block is a tuple whose first item names its kind:

    ("h1", text) / ("h2", text)     a heading
    ("p", text)                     a paragraph (``**bold**`` and ```code``` inline)
    ("bullets", [text, ...])        a bulleted list
    ("table", header, rows)         a table (cells are turned into text with ``str``)
    ("figure", path, caption)       a PNG: linked from report.md, embedded in report.html
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

STYLE = ("body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em}"
         "th{background:#f3f3f3}img{max-width:100%}figure{margin:1em 0}code{background:#f3f3f3;padding:0 .2em}")


def to_markdown(blocks: list, run_dir: Path) -> str:
    """report.md: figures are linked relative to ``run_dir``, so the run directory can be moved as a whole."""
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            out.append(("# " if kind == "h1" else "## ") + block[1])
        elif kind == "p":
            out.append(block[1])
        elif kind == "bullets":
            out.append("\n".join(f"- {line}" for line in block[1]))
        elif kind == "table":
            header, rows = block[1], block[2]
            lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "figure":
            out.append(f"![{block[2]}]({Path(block[1]).relative_to(run_dir).as_posix()})")
    return "\n\n".join(out) + "\n"


def inline_html(text: str) -> str:
    """Escape, then turn **bold** and `code` into tags."""
    parts = html.escape(text).split("**")
    text = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def to_html(blocks: list, title: str) -> str:
    """report.html: one file, figures embedded as base64 PNGs, so it can be mailed or attached alone."""
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{inline_html(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{inline_html(block[1])}</p>")
        elif kind == "bullets":
            body.append("<ul>" + "".join(f"<li>{inline_html(x)}</li>" for x in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{inline_html(str(h))}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{inline_html(str(c))}</td>" for c in row) + "</tr>" for row in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "figure":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode()
            body.append(f'<figure><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{inline_html(block[2])}</figcaption></figure>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
