"""Progress lines for long commands (evaluation, training, bench), printed to stderr.

``Progress(total, "evaluate")`` prints at most one line every ``every`` seconds, e.g.::

    [evaluate] 320/2000 images (16 %), 3.1 images/s, about 9 min 2 s left

and a last line on :meth:`Progress.close`. Nothing goes to stdout, so a command's JSON output
stays machine-readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_seconds(seconds: float) -> str:
    """``75`` -> ``"1 min 15 s"``; ``3725`` -> ``"1 h 2 min"``."""
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    if s >= 60:
        return f"{s // 60} min {s % 60} s"
    return f"{s} s"


class Progress:
    """Counts finished items and reports done / total, rate and time left, throttled."""

    def __init__(
        self,
        total: int,
        label: str,
        unit: str = "images",
        every: float = 10.0,
        stream: TextIO | None = None,
        clock=time.monotonic,
    ) -> None:
        self.total, self.label, self.unit, self.every = total, label, unit, every
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.done = 0
        self.started = clock()
        self._last_print = self.started
        self._printed_at = -1  # ``done`` when the last line was printed

    def line(self) -> str:
        """The current progress line (without newline)."""
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"[{self.label}] {self.done}/{self.total} {self.unit}"
        if self.total:
            text += f" ({100 * self.done // self.total} %)"
        text += f", {rate:.2f} {self.unit}/s"
        if self.done < self.total and rate > 0:
            text += f", about {format_seconds((self.total - self.done) / rate)} left"
        elif self.done >= self.total:
            text += f", done in {format_seconds(elapsed)}"
        return text

    def update(self, n: int = 1) -> None:
        """Record ``n`` more finished items; print when ``every`` seconds have passed."""
        self.done += n
        now = self.clock()
        if now - self._last_print >= self.every:
            self._last_print = now
            self._print()

    def close(self) -> None:
        """Print the final line (unless the last update already printed it)."""
        if self._printed_at != self.done:
            self._print()

    def _print(self) -> None:
        self._printed_at = self.done
        print(self.line(), file=self.stream, flush=True)
