"""Progress bars for long work (downloads, uploads, training, executions), on stderr via rich.

Library code takes plain callbacks (``progress(done, total)``) so it stays usable
without a terminal; this module turns a description into such a callback backed
by a rich task. On a non-interactive stderr (CI logs) rich prints the final state
of each bar once instead of redrawing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class _CountColumn(ProgressColumn):
    """Bytes for transfers, "done/total" for counted work: one bar layout serves both kinds."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()
        self._count = MofNCompleteColumn()

    def render(self, task: Task) -> Text:
        column = self._bytes if task.fields.get("unit") == "bytes" else self._count
        return column.render(task)


class Bars:
    """Hands out callbacks, each driving one bar of a shared :class:`rich.progress.Progress`."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def _task(self, description: str, unit: str = "items") -> TaskID:
        if description not in self._tasks:
            self._tasks[description] = self._progress.add_task(description, total=None, unit=unit)
        return self._tasks[description]

    def steps(self, description: str) -> Callable[[int, int], None]:
        """A ``(done, total)`` callback for counted work (files, epochs, executions)."""

        def update(done: int, total: int) -> None:
            self._progress.update(self._task(description), completed=done, total=total)

        return update

    def transfer(self, description: str) -> Callable[[int, int | None], None]:
        """A ``(bytes_done, bytes_total)`` callback for downloads."""

        def update(done: int, total: int | None) -> None:
            self._progress.update(self._task(description, unit="bytes"), completed=done, total=total)

        return update

    @property
    def console(self) -> Console:
        """The console the bars draw on; print through it so messages appear above live bars."""
        return self._progress.console

    def note(self, message: str) -> None:
        self._progress.console.print(message, highlight=False)


@contextmanager
def progress_bar(console: Console | None = None) -> Iterator[Bars]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _CountColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )
    with progress:
        yield Bars(progress)
