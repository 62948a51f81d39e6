"""Progress bars of long loops in a stage: tokenizing large sets, predicting, zero-shot languages.

A stage runs in a Ray Train worker whose stderr is a log file streamed to the driver, never a
terminal, and tqdm's carriage-return redraws do not survive there. :class:`Progress` is therefore
a tqdm bar on a terminal and, elsewhere, tqdm's meter printed as whole lines on stderr, e.g.
``zero-shot panx test:  43%|████▎     | 3/7 [00:36<00:48, 12.07s/language, de: f1 41.2]``:
at most one line every ``interval_s`` seconds, the first only after ``interval_s`` (so a loop
quicker than that prints nothing: dev evaluations during training and tests stay quiet), and a
last line at the end when an earlier one was printed. ``interval_s=0`` prints every step (one
line per language).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

#: Seconds between lines in logs, and the delay before a terminal bar appears.
INTERVAL_S = 30.0


class Progress:
    """Progress of ``total`` steps of ``unit`` (see the module docstring); a context manager.

    Args:
        description: what runs, e.g. ``"tokenizing mnli"``.
        total: number of steps (examples, features, languages).
        interval_s: seconds between lines in logs (0: a line per step), delay of a terminal bar.
        stream: where to write; default ``sys.stderr`` at the time of writing.
    """

    def __init__(self, description: str, total: int, unit: str, interval_s: float = INTERVAL_S, stream: TextIO | None = None):
        self._description, self._total, self._unit, self._interval_s = description, total, unit, interval_s
        self._stream = stream
        self._unit_scale = total >= 10_000  # 120k/393k examples, but 3/7 languages
        self._done = 0
        self._start = self._last = time.monotonic()
        self._printed_at: int | None = None  # steps done at the last printed line
        file = stream or sys.stderr
        self._bar = (
            tqdm(total=total, desc=description, unit=unit, unit_scale=self._unit_scale, file=file, delay=interval_s, leave=True)
            if file.isatty()
            else None
        )

    def advance(self, steps: int = 1, note: str = "") -> None:
        """``steps`` more are done; ``note`` (e.g. the language and its score) ends the line."""
        self._done += steps
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(steps)
            return
        now = time.monotonic()
        if now - self._last >= self._interval_s:
            self._line(now, note)

    def close(self) -> None:
        """End the bar; in logs, print the last line if an earlier one was printed."""
        if self._bar is not None:
            self._bar.close()
        elif self._printed_at is not None and self._printed_at != self._done:
            self._line(time.monotonic(), "")

    def _line(self, now: float, note: str) -> None:
        meter = tqdm.format_meter(
            self._done,
            self._total,
            now - self._start,
            prefix=self._description,
            unit=self._unit,
            unit_scale=self._unit_scale,
            postfix=note or None,
        )
        # write, not print: Ray Train patches print in its workers and would log each line twice
        stream = self._stream or sys.stderr
        stream.write(meter + "\n")
        stream.flush()
        self._last, self._printed_at = now, self._done

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
