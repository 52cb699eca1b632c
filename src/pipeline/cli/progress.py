"""Progress of long CLI work: a real bar on a terminal, plain periodic lines when asked, else silence.

On a terminal (stderr is a TTY) a ``tqdm`` bar shows what is done, the rate and — when the total is known —
the time left. Elsewhere (cron, a pipe, a log file) nothing is printed unless ``--progress`` asks for it,
and then one plain line every few seconds and one at the end, so cron logs stay quiet by default and
readable when they are not.
长时间命令的进度：终端上为进度条；非终端时仅在 --progress 下按间隔输出纯文本行。
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import IO, NoReturn, TypeVar

from tqdm import tqdm

T = TypeVar("T")
LINE_EVERY_SECONDS = 5.0


class Progress:
    """``update(done, total)`` with absolute counts; use as a context manager (closes the bar or prints the
    final line)."""

    def __init__(self, label: str, unit: str, *, requested: bool, total: int | None = None,
                 stream: IO[str] | None = None, every: float = LINE_EVERY_SECONDS) -> None:
        self.label, self.unit, self.total, self.every = label, unit, total, every
        self.stream: IO[str] = stream if stream is not None else sys.stderr
        self.bar: tqdm[NoReturn] | None = None
        self.lines = False
        if self.stream.isatty():
            self.bar = tqdm(total=total, desc=label, unit=f" {unit}", file=self.stream, dynamic_ncols=True,
                            mininterval=min(0.2, every), unit_scale=False)
        else:
            self.lines = requested
        self.done = 0
        self.started = time.monotonic()
        self.shown = self.started

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if self.bar is not None:
            if total is not None and self.bar.total != total:
                self.bar.total = total
            self.bar.update(done - self.bar.n)
        elif self.lines and time.monotonic() - self.shown >= self.every:
            self._line()

    def step(self, count: int = 1) -> None:
        self.update(self.done + count)

    def iterate(self, items: Iterable[T]) -> Iterator[T]:
        """``items`` unchanged, counting each one."""
        for item in items:
            yield item
            self.step()

    def _line(self) -> None:
        now = time.monotonic()
        self.shown = now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        total = f"/{self.total:,}" if self.total is not None else ""
        left = ""
        if self.total is not None and rate > 0 and self.done < self.total:
            left = f", about {(self.total - self.done) / rate:,.0f} s left"
        print(f"{self.label}: {self.done:,}{total} {self.unit} in {elapsed:,.0f} s ({rate:,.0f} {self.unit}/s{left})",
              file=self.stream, flush=True)

    def close(self) -> None:
        """Finish: what was done is all there was (a counted total may include blank rows)."""
        self.total = self.done
        if self.bar is not None:
            self.bar.total = self.done
            self.bar.refresh()
            self.bar.close()
        elif self.lines:
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def csv_rows(path: str) -> int | None:
    """Data rows of a CSV list, counted fast (lines, less the title and header rows) so a bar can show the
    time left; ``None`` for other files."""
    if not path.lower().endswith(".csv"):
        return None
    lines = 0
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            lines += block.count(b"\n")
    return max(lines - 2, 0)
