"""The whole run on one page: ``index.html``, self-contained (styles inline, images embedded as base64),
so it can be mailed or opened from MLflow's artifact viewer.

Built from the stage folders the report wrote: each stage's ``report.md`` (Table 2, search reports,
the stage's own tables, per-model tables, deployment, t-SNE) rendered to HTML, then every figure of the
folder that the markdown does not show (confusion matrices, search plots of steps...), grouped by
folder. Nothing is recomputed, so the page says exactly what the files say.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hartune.tracking.runs import RunTree

PAGE = "index.html"
IMG_SRC = re.compile(r'<img src="([^"]+)"')

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
header { background: #1f3a5f; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: .85; }
nav { padding: 10px 32px; background: #fff; border-bottom: 1px solid #dde1e6; position: sticky; top: 0; }
nav a { margin-right: 16px; color: #1f3a5f; text-decoration: none; font-weight: 600; }
main { padding: 8px 32px 48px; max-width: 1200px; }
section.stage { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 4px 24px 20px; margin: 20px 0; }
table { border-collapse: collapse; margin: 10px 0 18px; font-size: 13px; }
th, td { border: 1px solid #d0d5dc; padding: 4px 8px; text-align: right; }
th { background: #eef1f5; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; border: 1px solid #e3e6ea; margin: 6px 0; }
figure { display: inline-block; margin: 8px 16px 8px 0; vertical-align: top; }
figcaption { font-size: 12px; color: #57606a; }
.note { color: #8a5300; }
code { background: #eef1f5; padding: 1px 4px; border-radius: 3px; }
header code { background: rgba(255, 255, 255, .15); color: #fff; }
"""


class StagePart(Protocol):
    """One stage of the page (a ``StageReport``): its name, kind, MLflow run, report folder, notes."""

    stage: str
    kind: str
    run_id: str
    folder: Path
    notes: list[str]


def data_uri(path: Path) -> str:
    kind = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}.get(
        path.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def markdown_html(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def embed_images(body: str, folder: Path) -> tuple[str, set[Path]]:
    """Every ``<img src="rel">`` of ``body`` as a data URI of ``folder/rel``; returns the files used."""
    used: set[Path] = set()

    def inline(m: re.Match[str]) -> str:
        path = (folder / html.unescape(m.group(1))).resolve()
        if not path.is_file():
            return m.group(0)
        used.add(path)
        return f'<img src="{data_uri(path)}"'

    return IMG_SRC.sub(inline, body), used


def stage_html(part: StagePart) -> str:
    report = part.folder / "report.md"
    text = report.read_text() if report.is_file() else f"# stage {part.stage}\n\nno report written\n"
    body, used = embed_images(markdown_html(text), part.folder)
    rest = sorted(p for p in part.folder.rglob("*.png") if p.resolve() not in used)
    if rest:
        body += "<h2>More figures</h2>\n"
        for p in rest:
            rel = p.relative_to(part.folder).as_posix()
            body += (f'<figure><img src="{data_uri(p)}" alt="{html.escape(rel)}">'
                     f"<figcaption>{html.escape(rel)}</figcaption></figure>\n")
    notes = "".join(f'<p class="note">note: {html.escape(n)}</p>\n' for n in part.notes)
    return (f'<section class="stage" id="stage-{html.escape(part.stage)}">\n'
            f"<p>stage <b>{html.escape(part.stage)}</b> ({html.escape(part.kind)}), "
            f"MLflow run <code>{html.escape(part.run_id)}</code></p>\n{notes}{body}</section>\n")


def write_page(root: Path, experiment: str, parent_run_id: str, stages: Sequence[StagePart],
               store: RunTree | None = None) -> Path:
    """``root/index.html``: every stage of the run, in order, on one self-contained page; with a
    ``store``, logged to each stage's run under ``report/`` too."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#stage-{html.escape(s.stage)}">{html.escape(s.stage)}</a>' for s in stages)
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(experiment)} run {parent_run_id[:8]}: hartune report</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{html.escape(experiment)}: run {parent_run_id[:8]}</h1>"
        f"<p>{len(stages)} stage{'s' if len(stages) != 1 else ''}; parent run {html.escape(parent_run_id)}; "
        f"written {when} by <code>hartune report</code></p></header>\n"
        f"<nav>{nav}</nav>\n<main>\n{''.join(stage_html(s) for s in stages)}</main>\n</body>\n</html>\n"
    )
    path = root / PAGE
    path.write_text(page)
    for s in stages if store is not None else ():
        store.log_file(s.run_id, path, "report")
    return path
