"""myfs call paths: parse its sysfs `paths` file and set kernels side by side.

With `-o trace=once` myfs records, per hook, the first call stack that reached it
(docs/contracts.md). Offsets (`+0x4e/0x60`) differ between any two builds, so paths are
compared by function name; the report still says which frames differ.
"""

import difflib
import re
from pathlib import Path

from .errors import UsageError
from .tables import markdown_table


def parse(text):
    """{hook: [function, ...]} from `hook NAME` blocks, innermost frame first."""
    paths, hook = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            hook = None
            continue
        if line.startswith("hook "):
            hook = line.split(None, 1)[1].strip()
            paths[hook] = []
        elif hook is not None:
            paths[hook].append(function(line))
    return paths


def function(frame):
    """`vfs_read+0x23c/0x310` -> `vfs_read`; `myfs_fault+0x98/0xa0 [myfs]` -> `myfs_fault`."""
    frame = re.sub(r"^\?\s*", "", frame.strip())
    return re.split(r"[+\s]", frame, 1)[0]


def load(path):
    try:
        return parse(Path(path).read_text())
    except OSError as err:
        raise UsageError(f"cannot read call paths {path}: {err.strerror}")


def differing_hooks(paths_by_label):
    """Hooks whose recorded path is not the same function sequence on every kernel."""
    hooks = sorted({h for p in paths_by_label.values() for h in p})
    out = []
    for hook in hooks:
        variants = {tuple(p.get(hook, ())) for p in paths_by_label.values()}
        if len(variants) > 1:
            out.append(hook)
    return out


def _aligned(base, other):
    """Rows (left, right, differs) aligning two frame lists on their common functions."""
    rows = []
    matcher = difflib.SequenceMatcher(a=base, b=other, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [(base[i], other[j1 + (i - i1)], False) for i in range(i1, i2)]
            continue
        left, right = base[i1:i2], other[j1:j2]
        for k in range(max(len(left), len(right))):
            rows.append((left[k] if k < len(left) else "", right[k] if k < len(right) else "",
                         True))
    return rows


def side_by_side(paths_by_label):
    """Markdown: per hook, the path on each kernel; differing frames in bold."""
    labels = list(paths_by_label)
    hooks = sorted({h for p in paths_by_label.values() for h in p})
    if not hooks:
        return ["No call paths were recorded (myfs mounted without trace=once?).", ""]
    out = []
    for hook in hooks:
        columns = [paths_by_label[label].get(hook) for label in labels]
        same = len({tuple(c or ()) for c in columns}) == 1
        out += [f"#### `{hook}`" + ("" if same else " — differs"), ""]
        if len(labels) == 2 and all(columns):
            rows = [[_cell(a, d), _cell(b, d)] for a, b, d in _aligned(columns[0], columns[1])]
        else:
            everywhere = set.intersection(*(set(c or ()) for c in columns))
            depth = max(len(c or ()) for c in columns)
            rows = []
            for i in range(depth):
                row = []
                for c in columns:
                    if c is None:
                        row.append("(not reached)" if i == 0 else "")
                    elif i < len(c):
                        row.append(_cell(c[i], c[i] not in everywhere))
                    else:
                        row.append("")
                rows.append(row)
        out += [markdown_table(labels, rows, "l" * len(labels)), ""]
    return out


def _cell(name, differs):
    if not name:
        return "·"
    return f"**{name}**" if differs else f"`{name}`"
