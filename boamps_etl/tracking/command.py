"""``boamps-etl run -- CMD ARGS...``: run a command under CodeCarbon, then report on it.

The command runs as a child process while CodeCarbon's offline tracker measures the machine
(``tracking_mode='machine'``: the child's work is on the machine, not in this process).
SIGINT and SIGTERM sent to ``boamps-etl run`` are passed to the command; when it ends,
whichever way, the tracker stops, CodeCarbon writes its row to ``emissions.csv`` and the
report of the measured part is written. The exit code is the command's own, or 128 + N
when signal N ended it (130 for SIGINT, 143 for SIGTERM), as a shell gives it.

Ctrl-C in a terminal reaches every process of the foreground group, the command included:
SIGINT is then not sent a second time (unless the command left the group). A SIGINT sent to
``boamps-etl run`` alone (``kill -INT``) while it runs in the foreground of a terminal is
therefore not passed on; SIGTERM always is.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..errors import BoampsEtlError, Location, UsageError
from .live import require_codecarbon
from .session import EMISSIONS_CSV, TrackedRun, resolve_country, start_tracker

if TYPE_CHECKING:
    from ..mapping import FieldMapping
    from ..pipeline import ConvertedReport

PathLike = str | os.PathLike[str]
FORWARDED = (signal.SIGINT, signal.SIGTERM)


class CommandError(BoampsEtlError):
    """The command cannot be started; ``exit_code`` is the shell's: 127 not found, 126 not
    executable."""

    code = "bad-command"

    def __init__(self, message: str, where: Location | None = None, hint: str | None = None,
                 exit_code: int = 127):
        super().__init__(message, where, hint)
        self.exit_code = exit_code


@dataclass
class RunResult:
    """What ``run_command`` did.

    Attributes:
        command: the command run.
        returncode: its exit code, or 128 + N when signal N ended it.
        signals: the signals passed to it, in order.
        duration: wall time of the command, in s.
        run: the tracked run (reports, CodeCarbon's CSV, what CodeCarbon estimated).
    """

    command: list[str]
    returncode: int
    signals: list[int] = field(default_factory=list)
    duration: float = 0.0
    run: TrackedRun | None = None

    @property
    def report(self) -> ConvertedReport | None:
        return None if self.run is None else self.run.report

    @property
    def written(self) -> list[Path]:
        return [] if self.run is None else self.run.written


def _terminal_sends_sigint() -> bool:
    """True when this process is in the foreground group of its terminal: a Ctrl-C there
    reaches the child (same group) directly."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def _same_group(pid: int) -> bool:
    """Whether the child is still in this process group (a child may leave it)."""
    try:
        return os.getpgid(pid) == os.getpgrp()
    except OSError:
        return False


def _executable(command: Sequence[str]) -> str:
    if not command:
        raise UsageError("no command to run", hint="boamps-etl run [OPTIONS] -- CMD ARGS...")
    program = command[0]
    if os.sep in program or (os.altsep and os.altsep in program):
        path = Path(program)
        if not path.exists():
            raise CommandError("command not found", Location(program), exit_code=127)
        if path.is_dir() or not os.access(path, os.X_OK):
            raise CommandError("is not an executable file", Location(program), exit_code=126)
        return program
    found = shutil.which(program)
    if found is None:
        raise CommandError("command not found", Location(program),
                           "is it installed and on PATH?", exit_code=127)
    return found


def run_command(command: Sequence[str], *, context: Any = None, sets: Iterable[str] = (),
                out: PathLike | None = "boamps-reports", country: str | None = None,
                project: str | None = None, mapping: PathLike | FieldMapping | None = None,
                on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
                **tracker_options: Any) -> RunResult:
    """Run ``command`` under CodeCarbon's offline tracker and write its BoAmps report.

    Args:
        command: the program and its arguments (not run through a shell).
        context, sets, mapping: as for :func:`boamps_etl.convert`; an incomplete context
            gives a draft report and one warning.
        out: folder for CodeCarbon's ``emissions.csv`` (appended to, as CodeCarbon does)
            and the JSON report; ``None`` writes nothing.
        country: ISO 3166 code (default: the context's ``environment.countryIsoCode``).
        project: CodeCarbon's ``project_name`` (default: the program's name).
        on_start: called with the child process once it runs.
        tracker_options: more ``OfflineEmissionsTracker`` arguments.

    Returns:
        A :class:`RunResult`: the command's exit code, the signals passed on, the report.

    Raises:
        CommandError: the command cannot be started (nothing is measured or written).
        UsageError, ContextError, MappingError, MissingExtraError: before the command runs.

    >>> result = run_command(["python", "train.py"], context="boamps.yaml",
    ...                      country="FRA")  # doctest: +SKIP
    >>> result.returncode, result.report.status  # doctest: +SKIP
    (0, 'valid')
    """
    require_codecarbon("boamps-etl run")
    from .handler import BoampsOutput

    argv = [str(part) for part in command]
    program = _executable(argv)
    folder = None if out is None else Path(out)
    if folder is not None:
        from ..io.writers import check_writable

        check_writable(folder)
    handler = BoampsOutput(context, folder, sets=sets, mapping=mapping)
    code = resolve_country(country, handler.converter.context)
    run = TrackedRun(handler, emissions_csv=None if folder is None else folder / EMISSIONS_CSV)
    result = RunResult(argv, 0, run=run)
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and child is not None and _same_group(child.pid) \
                and _terminal_sends_sigint():
            result.signals.append(signum)  # the terminal gave it to the child already
            return
        if child is None or child.poll() is not None:
            pending.append(signum)
            return
        result.signals.append(signum)
        child.send_signal(signum)

    in_main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, forward) for s in FORWARDED} if in_main else {}
    try:
        run.tracker = start_tracker(handler, code, folder, project or Path(program).stem,
                                    tracker_options)
        started = time.perf_counter()
        try:
            if not pending:
                try:
                    child = subprocess.Popen([program, *argv[1:]])
                except OSError as exc:
                    raise CommandError(f"cannot be started: {exc.strerror or exc}",
                                       Location(argv[0]), exit_code=126) from None
                if on_start is not None:
                    on_start(child)
                for signum in pending:  # arrived while the child was starting
                    result.signals.append(signum)
                    child.send_signal(signum)
                pending.clear()
                returncode = child.wait()
            else:  # stopped before the command could start
                returncode = -pending[0]
        finally:
            result.duration = time.perf_counter() - started
            run.stop()
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
    result.returncode = 128 - returncode if returncode < 0 else returncode
    return result
