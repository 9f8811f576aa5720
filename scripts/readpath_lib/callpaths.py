"""myfs call paths: parse its sysfs `paths` file and set kernels side by side.

With `-o trace=once` myfs records, per hook, every distinct call stack that reached it (up
to 8) with the number of calls that came by each, and counts the calls of the rest in one
`unrecorded` block (docs/contracts.md); files written before that hold one stack per hook
and no counts (`hook NAME`). Offsets (`+0x4e/0x60`) differ between any two builds, so stacks
are compared by function name; the report still says which frames differ.

A stack's entry point — read(2), a page fault, an io_uring worker, an interrupt — is read
from the kernel functions it passes through, outermost first (ENTRY_POINTS): that is how the
report says which ways into a hook each kernel took, and how often.
"""

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .tables import markdown_table

UNRECORDED = "other stacks (not recorded)"

# Kernel functions that tell where a stack came from, with the name a report gives it. A
# stack passing through several (a page fault taken inside read(2)'s copy to user space, a
# softirq run on the way out of io_uring_enter) is named by all of them, outermost first.
# These are the kernel's names (6.1 and 6.12 spell them alike), not readpath's methods.
ENTRY_POINTS = [
    ("read(2)", ("ksys_read", "__x64_sys_read", "__arm64_sys_read")),
    ("pread(2)", ("ksys_pread64", "__x64_sys_pread64", "__arm64_sys_pread64")),
    ("preadv2(2)", ("do_preadv", "__x64_sys_preadv2", "__x64_sys_preadv",
                    "__arm64_sys_preadv2")),
    ("sendfile(2)", ("do_sendfile", "__x64_sys_sendfile64")),
    ("splice(2)", ("do_splice", "__x64_sys_splice")),
    ("write(2)", ("ksys_write", "__x64_sys_write", "ksys_pwrite64", "__x64_sys_pwrite64")),
    ("mmap(2)", ("ksys_mmap_pgoff", "vm_mmap_pgoff")),
    ("madvise(2)", ("do_madvise", "__x64_sys_madvise")),
    ("fadvise(2)", ("ksys_fadvise64_64", "__x64_sys_fadvise64")),
    ("readahead(2)", ("ksys_readahead", "__x64_sys_readahead")),
    ("fsync(2)", ("do_fsync", "__x64_sys_fsync", "__x64_sys_fdatasync")),
    ("io_uring_enter(2)", ("__do_sys_io_uring_enter", "__x64_sys_io_uring_enter",
                           "__se_sys_io_uring_enter")),
    ("io_uring SQPOLL thread", ("io_sq_thread",)),
    ("io_uring worker (io-wq)", ("io_wq_worker", "io_worker_handle_work", "io_wq_submit_work")),
    ("io_uring task work", ("tctx_task_work", "io_req_task_submit", "io_poll_task_func")),
    ("MAP_POPULATE / MADV_POPULATE_READ", ("__mm_populate", "populate_vma_page_range",
                                           "faultin_vma_page_range", "madvise_populate",
                                           "faultin_page_range")),
    ("page fault", ("asm_exc_page_fault", "exc_page_fault")),
    ("kworker", ("process_one_work",)),
    ("interrupt", ("asm_common_interrupt", "common_interrupt", "asm_sysvec_call_function_single",
                   "sysvec_call_function_single", "asm_sysvec_apic_timer_interrupt")),
    ("softirq", ("handle_softirqs", "__do_softirq", "blk_done_softirq")),
    ("timer", ("__hrtimer_run_queues", "hrtimer_interrupt")),
]
_ENTRY_OF = {fn: label for label, fns in ENTRY_POINTS for fn in fns}
# Frames no stack is named by: every syscall and thread passes them.
_OUTER = {"entry_SYSCALL_64_after_hwframe", "do_syscall_64", "ret_from_fork",
          "ret_from_fork_asm", "kthread", "x64_sys_call"}


@dataclass(frozen=True)
class Stack:
    """One distinct stack into a hook: function names innermost first, and the calls that
    came by it (None: a file of the old format, which did not count them)."""

    frames: tuple
    calls: int = None
    unrecorded: bool = False

    @property
    def entry(self):
        return UNRECORDED if self.unrecorded else entry_point(self.frames)

    @property
    def way_in(self):
        """The outermost entry point alone, io_uring's ways as one: the stacks a report sets
        side by side (a completion run in a softirq on the way out of a page fault beside
        one run inside the fault's own queue_rq; a read issued by io-wq beside one issued
        inline by io_uring_enter)."""
        outer = self.entry.split(" → ")[0]
        return "io_uring" if outer.startswith("io_uring") else outer


def entry_point(frames):
    """`page fault`, `read(2) → page fault`, or the outermost named frame when no frame is a
    known way in (`kthread` etc. skipped)."""
    chain = []
    for name in reversed(frames):
        label = _ENTRY_OF.get(name)
        if label and label not in chain:
            chain.append(label)
    if chain:
        return " → ".join(chain)
    named = [f for f in reversed(frames) if f not in _OUTER]
    return f"`{named[0]}`" if named else "(no frames)"


_HEADER = re.compile(r"hook\s+(\S+)(?:\s+calls\s+(\S+)(\s+unrecorded)?)?\s*")


def parse(text, source="paths"):
    """{hook: [Stack, ...]} in the file's order (the order myfs first saw each stack)."""
    paths, frames = {}, None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            frames = None
            continue
        if line.startswith("hook "):
            match = _HEADER.fullmatch(line)
            if not match or (match.group(2) is not None and not match.group(2).isdigit()):
                raise UsageError(f"{source}, line {number}: {line!r} is not a myfs paths "
                                 "header (`hook NAME`, `hook NAME calls N [unrecorded]`)")
            hook, calls, unrecorded = match.groups()
            frames = []
            paths.setdefault(hook, []).append(
                (frames, None if calls is None else int(calls), bool(unrecorded)))
        elif frames is not None:
            frames.append(function(line))
    return {hook: [Stack(tuple(f), c, u) for f, c, u in stacks]
            for hook, stacks in paths.items()}


def function(frame):
    """`vfs_read+0x23c/0x310` -> `vfs_read`; `myfs_fault+0x98/0xa0 [myfs]` -> `myfs_fault`."""
    frame = re.sub(r"^\?\s*", "", frame.strip())
    return re.split(r"[+\s]", frame, 1)[0]


def load(path):
    try:
        return parse(Path(path).read_text(), str(path))
    except OSError as err:
        raise UsageError(f"cannot read call paths {path}: {err.strerror}")


def frame_set(stacks):
    """The distinct recorded function sequences of a hook's stacks."""
    return {s.frames for s in stacks or () if not s.unrecorded}


def same_paths(paths_a, paths_b, hook):
    """True when both runs reached `hook` by the same set of stacks (by function names)."""
    return frame_set((paths_a or {}).get(hook)) == frame_set((paths_b or {}).get(hook))


def differing_hooks(paths_by_label):
    """Hooks not reached by the same set of stacks on every kernel."""
    hooks = _hooks(paths_by_label)
    return [h for h in hooks
            if len({frozenset(frame_set(p.get(h))) for p in paths_by_label.values()}) > 1]


def merged(stacks):
    """Stacks with the same function names (other call sites of the same functions: myfs
    tells them apart by address) as one, their calls summed; first-seen order."""
    out = {}
    for stack in stacks or ():
        key = (stack.frames, stack.unrecorded)
        if key in out:
            calls = None if out[key].calls is None or stack.calls is None \
                else out[key].calls + stack.calls
            out[key] = Stack(stack.frames, calls, stack.unrecorded)
        else:
            out[key] = stack
    return list(out.values())


def entries(stacks, key=lambda stack: stack.entry):
    """{entry point: (calls or None, stacks)} of one hook's stacks, in first-seen order."""
    out = {}
    for stack in merged(stacks):
        calls, members = out.get(key(stack), (0, []))
        calls = None if calls is None or stack.calls is None else calls + stack.calls
        out[key(stack)] = (calls, members + [stack])
    return out


def _hooks(paths_by_label, order=()):
    """Hooks in myfs's counter order (when given), then alphabetically."""
    present = {h for p in paths_by_label.values() for h in p}
    return [h for h in order if h in present] + sorted(present - set(order))


def _calls_text(calls, stacks):
    if calls is None:
        text = "reached"
    else:
        text = str(calls)
    recorded = [s for s in stacks if not s.unrecorded]
    return text + (f" ({len(recorded)} stacks)" if len(recorded) > 1 else "")


def entry_table(paths_by_label, hook):
    """Markdown: which entry points reach `hook` on each run and by how many calls."""
    labels = list(paths_by_label)
    per_run = {label: entries(paths_by_label[label].get(hook)) for label in labels}
    order = []
    for label in labels:
        order += [e for e in per_run[label] if e not in order]
    if UNRECORDED in order:   # the rest counts last
        order.remove(UNRECORDED)
        order.append(UNRECORDED)
    rows = []
    for entry in order:
        cells = [per_run[label].get(entry) for label in labels]
        texts = ["-" if c is None else _calls_text(*c) for c in cells]
        rows.append([entry, *texts])
    return markdown_table(["reached from", *[f"calls on {label}" for label in labels]], rows)


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


def stack_table(columns):
    """Markdown: stacks (frame tuples, None where a run has none) side by side, innermost
    frame first; frames not in every stack in bold."""
    labels = list(columns)
    stacks = [columns[label] for label in labels]
    if len(stacks) == 2 and all(stacks):
        rows = [[_cell(a, d), _cell(b, d)] for a, b, d in _aligned(list(stacks[0]),
                                                                    list(stacks[1]))]
    else:
        everywhere = set.intersection(*(set(c or ()) for c in stacks))
        rows = []
        for i in range(max(len(c or ()) for c in stacks)):
            row = []
            for c in stacks:
                if c is None:
                    row.append("(no such stack)" if i == 0 else "")
                elif i < len(c):
                    row.append(_cell(c[i], len(stacks) > 1 and c[i] not in everywhere))
                else:
                    row.append("")
            rows.append(row)
    return markdown_table(labels, rows, "l" * len(labels))


def side_by_side(paths_by_label, order=()):
    """Markdown: per hook, the entry points that reach it with their calls on each run, then
    the stacks of each way in (outermost entry point) side by side, the n-th of each run
    beside each other; differing frames in bold."""
    labels = list(paths_by_label)
    hooks = _hooks(paths_by_label, order)
    if not hooks:
        return ["No call paths were recorded (myfs mounted without trace=once?).", ""]
    out = []
    for hook in hooks:
        same = hook not in differing_hooks(paths_by_label)
        out += [f"#### `{hook}`" + ("" if same or len(labels) < 2 else " — differs"), "",
                entry_table(paths_by_label, hook), ""]
        per_run = {label: entries(paths_by_label[label].get(hook), lambda s: s.way_in)
                   for label in labels}
        seen = []
        for label in labels:
            seen += [e for e in per_run[label] if e not in seen and e != UNRECORDED]
        for entry in seen:
            depth = max(len(per_run[label].get(entry, (None, []))[1]) for label in labels)
            for i in range(depth):
                columns = {}
                for label in labels:
                    members = per_run[label].get(entry, (None, []))[1]
                    stack = members[i] if i < len(members) else None
                    calls = "" if stack is None or stack.calls is None else \
                        f" ({stack.calls} calls)"
                    columns[f"{label}{calls}"] = None if stack is None else stack.frames
                nth = f", stack {i + 1}" if depth > 1 else ""
                ways = list(dict.fromkeys(s.entry.split(" → ")[0] for label in labels
                                          for s in per_run[label].get(entry, (None, []))[1]))
                named = ways[0] if len(ways) == 1 else f"{entry} ({' / '.join(ways)})"
                out += [f"`{hook}` from {named}{nth}:", "", stack_table(columns), ""]
    return out


def _cell(name, differs):
    if not name:
        return "·"
    return f"**{name}**" if differs else f"`{name}`"
