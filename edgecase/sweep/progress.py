"""How a sweep shows where it is: a live bar on a terminal, plain log lines otherwise.

Log lines (not a terminal, or --quiet) are one per event, greppable, on stderr:
    done 12/200 occluded_child_dartout s11 passed 0.41 s
    retry occluded_child_dartout s12 (attempt 1; again in 1.0 s): CARLA server ... did not answer
    failed 13/200 occluded_child_dartout s12 (3 attempts): CARLA server ... did not answer
    bad input: scenarios/broken.yaml:7:5: unknown key 'spead_mps' (did you mean speed_mps?)
On a terminal a rich bar shows episodes/s, the ETA and the failures, and failures still get
their line above it (a failure's error must stay readable after the bar is gone).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from edgecase.sweep.jobs import Job

VERDICTS = {1: "passed", 0: "expect-failed", None: "no-verdict"}


class LogReporter:
    """Plain lines on a stream (stderr by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = self.finished = self.failed = 0
        self._started = time.perf_counter()

    def start(self, total: int, finished: int, workers: list[str]) -> None:
        self.total, self.finished = total, finished
        self._started = time.perf_counter()
        already = f" ({finished} already finished)" if finished else ""
        self.line(f"sweep: {total} episodes{already} on {len(workers)} worker(s): {', '.join(workers)}")

    def episode(self, job: Job, row: dict[str, Any]) -> None:
        """A row reached its final state this run (done, or failed after its attempts)."""
        self.finished += 1
        where = f"{self.finished}/{self.total} {job.label}"
        if row["status"] == "done":
            self.line(f"done {where} {VERDICTS[row['passed']]} {row['wall_s']:.2f} s")
        else:
            self.failed += 1
            self.line(f"failed {where} ({row['attempts']} attempt{'s' * (row['attempts'] != 1)}): {row['error']}")

    def retry(self, job: Job, error: str, attempt: int, delay_s: float) -> None:
        self.line(f"retry {job.label} (attempt {attempt}; again in {delay_s:.2g} s): {error}")

    def bad_input(self, error: str) -> None:
        self.line(f"bad input: {error}")

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class BarReporter(LogReporter):
    """A rich progress bar on the terminal; only failures, retries and notes print lines."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
                             TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[failures]}"),
                             console=Console(file=self.stream), transient=False)
        self._task = None

    def start(self, total: int, finished: int, workers: list[str]) -> None:
        super().start(total, finished, workers)
        self._bar.start()
        self._task = self._bar.add_task("sweep", total=total, completed=finished, failures="")

    def episode(self, job: Job, row: dict[str, Any]) -> None:
        if row["status"] == "done":
            self.finished += 1
        else:
            super().episode(job, row)  # the failure's own line
        self._bar.update(self._task, advance=1, failures=f"[red]{self.failed} failed" if self.failed else "")

    def line(self, text: str) -> None:
        self._bar.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self._bar.stop()


class _RateColumn(ProgressColumn):
    """Episodes per second, over this run's finished episodes."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} ep/s" if speed else "- ep/s")


def make_reporter(quiet: bool = False, stream: TextIO | None = None) -> LogReporter:
    """A bar on a terminal, log lines when not a terminal or with `quiet`."""
    stream = stream or sys.stderr
    if quiet or not stream.isatty():
        return LogReporter(stream)
    return BarReporter(stream)
