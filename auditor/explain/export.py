"""Per-instance attributions as CSV, so anyone can recompute our metrics from the run directory."""

from __future__ import annotations

from auditor.explain.attribution import Attribution

COLUMNS = ["row", "method", "explained_class", "output_space", "position", "name", "word", "value", "base_value", "output"]


def attribution_rows(attr: Attribution, classes: list[str]) -> list[list]:
    """One line per (instance, feature or token). ``row`` is the row position in the evaluation file;
    ``word`` is the word index of a token (text; -1 for special tokens), empty for tabular."""
    rows = []
    for i in range(len(attr)):
        words = attr.words[i] if attr.words is not None else None
        for j, (name, value) in enumerate(zip(attr.names[i], attr.values[i])):
            rows.append([
                int(attr.row_ids[i]), attr.method, classes[int(attr.target[i])], attr.output_space, j, name,
                "" if words is None else int(words[j]), repr(float(value)),
                repr(float(attr.base_values[i])), repr(float(attr.outputs[i])),
            ])
    return rows


def save_attributions(ctx, attr: Attribution) -> str:
    """Write the attributions of ``method``; when several checks explain different numbers of rows
    with it, the largest explained set is kept (the smaller ones are its prefixes)."""
    path = f"evidence/attributions-{attr.method}.csv"
    if ctx.file_rows.get(path, -1) < len(attr):
        ctx.add_csv(path, COLUMNS, attribution_rows(attr, ctx.classes), replace=True)
        ctx.file_rows[path] = len(attr)
    return path
