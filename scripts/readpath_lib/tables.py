"""Aligned Markdown tables: readable in a terminal as printed, and rendered in report.md."""


def markdown_table(headers, rows, align=None):
    """Pipe table with padded columns; align is a string of 'l'/'r' per column."""
    rows = [[str(cell) for cell in row] for row in rows]
    headers = [str(h) for h in headers]
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [max([3, len(headers[i])] + [len(r[i]) for r in rows]) for i in range(len(headers))]

    def line(cells):
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.ljust(widths[i]) if align[i] == "l" else cell.rjust(widths[i]))
        return "| " + " | ".join(out) + " |"

    rule = ["-" * w if align[i] == "l" else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    return "\n".join([line(headers), "| " + " | ".join(rule) + " |", *map(line, rows)])
