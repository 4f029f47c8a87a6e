"""The ablation table (and any list of row dicts) as Markdown, CSV, LaTeX (booktabs) and HTML text.

Pure: every writer returns a string. The best mean of a column is bold (``**``, ``\\textbf``, ``<b>``),
or carries a trailing ``*`` in CSV.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hartune.report.table import AblationTable, Cell, delta_text, mean_std_text

FORMATS = ("md", "csv", "tex", "html")


def _cell(t: AblationTable, v: str, d: str, m: str, bold: Callable[[str], str]) -> str:
    c: Cell | None = t.cell(v, d, m)
    if c is None:
        return "–"
    text = mean_std_text(c, t.percent)
    text = bold(text) if c.best else text
    delta = delta_text(c, t.percent, reference=v == t.reference_row)
    return f"{text} {delta}".strip()


def _columns(t: AblationTable) -> list[tuple[str, str, str]]:
    return [(d, key, label) for d in t.datasets for key, label in t.metrics]


def _unit(t: AblationTable) -> str:
    return " (%)" if t.percent else ""


def ablation_md(t: AblationTable) -> str:
    cols = _columns(t)
    one = len(t.datasets) == 1
    head = ["Variant"] + [f"{label}{_unit(t)}" if one else f"{d}: {label}{_unit(t)}" for d, _, label in cols]
    lines = [f"**{t.title}**" + (f" (dataset {t.datasets[0]})" if one else ""), ""] if t.title else []
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + [":-:"] * len(cols)) + "|"]
    for v in t.variants:
        lines.append("| " + " | ".join([v] + [_cell(t, v, d, m, lambda s: f"**{s}**") for d, m, _ in cols]) + " |")
    lines += ["", t.footnote(), *t.notes]
    return "\n".join(lines) + "\n"


def ablation_csv(t: AblationTable) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["variant"] + [f"{d}:{label}{_unit(t)}" for d, _, label in _columns(t)])
    for v in t.variants:
        w.writerow([v] + [_cell(t, v, d, m, lambda s: f"{s}*") for d, m, _ in _columns(t)])
    return out.getvalue()


_TEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                "×": r"$\times$", "·": r"$\cdot$", "−": "$-$"}  # the last three: a cross-validated footnote


def tex_escape(s: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in s)


def _tex_cell(t: AblationTable, v: str, d: str, m: str) -> str:
    text = _cell(t, v, d, m, lambda s: f"BOLD<{s}>")
    text = tex_escape(text).replace("±", r"$\pm$").replace("†", r"$^\dagger$").replace("–", "--")
    return text.replace("BOLD<", r"\textbf{").replace(">", "}")


def ablation_tex(t: AblationTable) -> str:
    """A booktabs ``table``: one multicolumn heading per dataset, the metrics under it."""
    k = len(t.metrics)
    lines = [r"% needs \usepackage{booktabs}", r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{l" + ("c" * k) * len(t.datasets) + "}", r"\toprule"]
    lines.append(" & " + " & ".join(rf"\multicolumn{{{k}}}{{c}}{{{tex_escape(d)}}}" for d in t.datasets) + r" \\")
    lines.append(" ".join(rf"\cmidrule(lr){{{2 + i * k}-{1 + (i + 1) * k}}}" for i in range(len(t.datasets))))
    unit = r" (\%)" if t.percent else ""
    lines.append("Variant & " + " & ".join(f"{tex_escape(label)}{unit}" for _, _, label in _columns(t)) + r" \\")
    lines.append(r"\midrule")
    for v in t.variants:
        lines.append(tex_escape(v) + " & " + " & ".join(_tex_cell(t, v, d, m) for d, m, _ in _columns(t)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    caption = tex_escape(f"{t.title}. " if t.title else "") + tex_escape(t.footnote()).replace("±", r"$\pm$").replace("†", r"$^\dagger$").replace("Δ", r"$\Delta$")
    lines += [rf"\caption{{{caption}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def ablation_html(t: AblationTable) -> str:
    k = len(t.metrics)
    e = html.escape
    head1 = "<tr><th rowspan=2>Variant</th>" + "".join(f"<th colspan={k}>{e(d)}</th>" for d in t.datasets) + "</tr>"
    head2 = "<tr>" + "".join(f"<th>{e(label)}{_unit(t)}</th>" for _, _, label in _columns(t)) + "</tr>"
    body = []
    for v in t.variants:
        cells = [e(_cell(t, v, d, m, lambda s: f"\x00{s}\x01")).replace("\x00", "<b>").replace("\x01", "</b>")
                 for d, m, _ in _columns(t)]
        body.append(f"<tr><th>{e(v)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    caption = f"<caption>{e(t.title)}</caption>" if t.title else ""
    return (f"<table border=1 cellpadding=4 style='border-collapse:collapse'>{caption}<thead>{head1}{head2}</thead>"
            f"<tbody>{''.join(body)}</tbody></table>\n<p><small>{e(t.footnote())}</small></p>\n")


ABLATION_WRITERS: dict[str, Callable[[AblationTable], str]] = {
    "md": ablation_md, "csv": ablation_csv, "tex": ablation_tex, "html": ablation_html,
}


# -- plain tables (best configuration, importances, deployment, distances, per-class) ---------------
def show(x: Any) -> str:
    if isinstance(x, float):
        return "n/a" if math.isnan(x) else f"{x:.4g}"
    return "" if x is None else str(x)


def rows_md(rows: Sequence[Mapping[str, Any]], title: str = "") -> str:
    if not rows:
        return f"**{title}**: none\n" if title else "none\n"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = [f"**{title}**", ""] if title else []
    lines += ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(show(r.get(c)).replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def rows_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


def rows_html(rows: Sequence[Mapping[str, Any]], title: str = "") -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{e(show(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    cap = f"<caption>{e(title)}</caption>" if title else ""
    return f"<table border=1 cellpadding=4 style='border-collapse:collapse'>{cap}<tr>{head}</tr>{body}</table>\n"


def rows_tex(rows: Sequence[Mapping[str, Any]], title: str = "") -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{" + "l" * len(cols) + "}", r"\toprule",
             " & ".join(tex_escape(c) for c in cols) + r" \\", r"\midrule"]
    lines += [" & ".join(tex_escape(show(r.get(c))) for c in cols) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"] + ([rf"\caption{{{tex_escape(title)}}}"] if title else []) + [r"\end{table}"]
    return "\n".join(lines) + "\n"


ROWS_WRITERS: dict[str, Callable[..., str]] = {
    "md": rows_md, "csv": lambda rows, title="": rows_csv(rows), "tex": rows_tex, "html": rows_html,
}
