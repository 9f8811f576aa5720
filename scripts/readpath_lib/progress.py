"""A progress line for long work: `cell n of N, elapsed, ETA` (rewritten in place on a
terminal, printed every 10 s otherwise)."""

import sys
import time


# The ETA waits for this share of the work and this many seconds.
ETA_AFTER_SHARE = 0.05
ETA_AFTER_SECONDS = 20


class Progress:
    """Counts units of work; the ETA weighs them by an expected cost when given one."""

    def __init__(self, total, done=0, cost_total=None, cost_done=None, unit="cell"):
        self.total, self.done, self.start_done = total, done, done
        self.cost_total = total if cost_total is None else cost_total
        self.cost_done = done if cost_done is None else cost_done
        self.start_cost = self.cost_done
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last_print = 0.0
        self.shown = None
        self.unit = unit
        self.what = ""

    def advance(self, units=1, what=None, cost=None):
        self.done = min(self.total, self.done + units)
        self.cost_done = min(self.cost_total, self.cost_done + (units if cost is None else cost))
        if what:
            self.what = what
        self.show()

    def show(self, force=False):
        now = time.monotonic()
        if not self.tty and not force and now - self.last_print < 10:
            return
        self.last_print = now
        self.shown = self.done
        elapsed = now - self.start
        ran = self.cost_done - self.start_cost
        # The first units carry the start-up (files written and checked, a guest booted):
        # extrapolated alone they promise hours. An ETA only once a share of the work ran.
        settled = ran >= ETA_AFTER_SHARE * self.cost_total and elapsed >= ETA_AFTER_SECONDS
        eta = clock(elapsed / ran * (self.cost_total - self.cost_done)) if settled else "…"
        line = (f"{self.unit} {self.done} of {self.total}  elapsed {clock(elapsed)}  ETA {eta}"
                f"  {self.what}")
        if self.tty:
            print("\r" + line[:150].ljust(150), end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def finish(self):
        if self.tty:
            print(file=sys.stderr)
        elif self.shown != self.done:
            self.show(force=True)


def clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"
