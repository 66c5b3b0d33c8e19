"""Live reports (boamps_etl.tracking): real CodeCarbon runs of about a second of NumPy work,
with the offline tracker.

Each live report is compared with the conversion, by ``convert``, of the CSV row CodeCarbon
wrote for the same run: they must be equal apart from the live-only fields
(``measures[0].cpuTrackingMode`` / ``gpuTrackingMode``), and valid against the official
schema. An audit hook records every attempt to open a network connection while tracking.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from codecarbon import OfflineEmissionsTracker
from conftest import TASK_CONTEXT

import boamps_etl as be
from boamps_etl.cli import cli
from boamps_etl.tracking import BoampsOutput
from boamps_etl.tracking.live import live_fields

LIVE_ONLY = ("cpuTrackingMode", "gpuTrackingMode")
CPU_MODES = {"rapl", "cpu_load", "constant", "intel_power_gadget", "windows_emi",
             "powermetrics"}

# ----------------------------------------------------------------------------- no network

_NETWORK: list[str] = []
_WATCHING = [False]


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _WATCHING[0] and event in ("socket.connect", "socket.getaddrinfo",
                                  "socket.gethostbyname", "urllib.Request"):
        _NETWORK.append(f"{event} {args!r}")


sys.addaudithook(_audit)  # hooks cannot be removed: this one only records while watching


@pytest.fixture
def offline() -> Iterator[list[str]]:
    """Records network attempts made in this process during the test; none allowed."""
    _NETWORK.clear()
    _WATCHING[0] = True
    try:
        yield _NETWORK
    finally:
        _WATCHING[0] = False
    assert _NETWORK == [], f"network used while tracking: {_NETWORK}"


@pytest.fixture(autouse=True)
def quiet_codecarbon(monkeypatch: pytest.MonkeyPatch) -> None:
    # CodeCarbon reads CODECARBON_* variables and .codecarbon.config files: none may send
    # data anywhere during the tests.
    for key in list(os.environ):
        if key.startswith("CODECARBON_"):
            monkeypatch.delenv(key)


def work(seconds: float = 1.0) -> None:
    """About ``seconds`` of NumPy work (matrix products)."""
    a = np.random.default_rng(0).random((200, 200))
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = a @ a
        a /= np.abs(a).max()


def without_live(doc: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    for key in LIVE_ONLY:
        out["measures"][0].pop(key, None)
    return out


def converted(csv: Path, context: Any = None) -> dict[str, dict[str, Any]]:
    """The reports ``convert`` makes from ``csv``, by reportId (drafts included)."""
    result = be.convert(csv, context=context, allow_incomplete=True)
    return {r.report_id: r.document for r in result.reports}  # type: ignore[misc]


def assert_same_as_csv(live: be.ConvertedReport, csv: Path, context: Any,
                       tracker: Any = None) -> None:
    """The live report equals the conversion of the CSV row, apart from live-only fields;
    those are what the tracker says; the report passes the official schema."""
    expected = converted(csv, context)[live.report_id]
    assert without_live(live.document) == expected
    measure = live.document["measures"][0]
    assert measure["cpuTrackingMode"] in CPU_MODES
    if tracker is not None:
        assert {k: measure[k] for k in LIVE_ONLY if k in measure} == \
            live_fields(tracker)["measures"][0]
    issues = be.validate(live.document)
    if live.status == "valid":
        assert issues == []
    else:
        assert issues and all(i.code == "missing-field" for i in issues)
        assert live.document["header"]["reportStatus"] == "draft"


# ----------------------------------------------------------------------------- the handler


@pytest.fixture(scope="module")
def handler_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One tracked run with two tasks, seen by three handlers: complete context, no
    context, and an output folder that cannot be made (a file is in the way)."""
    root = tmp_path_factory.mktemp("handler")
    blocked = root / "blocked"
    blocked.write_text("a file where the output folder should be\n")
    complete = BoampsOutput(TASK_CONTEXT, root / "reports")
    bare = BoampsOutput(None, root / "drafts")
    broken = BoampsOutput(TASK_CONTEXT, blocked / "reports")
    tracker = OfflineEmissionsTracker(
        country_iso_code="FRA", output_dir=str(root), measure_power_secs=1,
        log_level="error", output_handlers=[complete, bare, broken], project_name="demo")
    for handler in (complete, bare, broken):
        handler.attach(tracker)
    _NETWORK.clear()
    _WATCHING[0] = True
    try:
        tracker.start()
        with _captured() as records:
            for name in ("load", "train"):
                tracker.start_task(name)
                work(0.5)
                tracker.stop_task()
                if name == "load":
                    tracker.flush()  # a first row of the run, and a first report, rewritten
            emissions = tracker.stop()
    finally:
        _WATCHING[0] = False
    return {"root": root, "tracker": tracker, "complete": complete, "bare": bare,
            "broken": broken, "records": records, "emissions": emissions,
            "network": list(_NETWORK)}


class _captured:
    """The log records of boamps_etl.tracking while the block runs."""

    def __enter__(self) -> list[logging.LogRecord]:
        self.records: list[logging.LogRecord] = []
        self.handler = logging.Handler()
        self.handler.emit = self.records.append  # type: ignore[method-assign]
        logging.getLogger("boamps_etl.tracking").addHandler(self.handler)
        return self.records

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("boamps_etl.tracking").removeHandler(self.handler)


def test_handler_writes_the_run_report_as_convert_makes_it(handler_run: dict[str, Any]) -> None:
    handler: BoampsOutput = handler_run["complete"]
    report = handler.report
    assert report is not None and report.status == "valid"
    assert_same_as_csv(report, handler_run["root"] / "emissions.csv", TASK_CONTEXT,
                       handler_run["tracker"])
    measure = report.document["measures"][0]
    # CodeCarbon (3.3.2) counts a run's duration from its last start_task(): the report
    # says what the CSV says
    assert measure["measurementDuration"] > 0.4
    assert measure["powerConsumption"] > 0
    assert report.document["measures"][0]["emissions"] == pytest.approx(
        handler_run["emissions"], rel=0, abs=0)
    written = handler.written[report.report_id]  # type: ignore[index]
    assert json.loads(written.read_text()) == report.document
    # the flush wrote a first row of the run: convert keeps its last row, as the handler
    rows = (handler_run["root"] / "emissions.csv").read_text().splitlines()
    assert len(rows) == 3 and all(report.report_id in row for row in rows[1:])
    assert handler_run["network"] == []


def test_handler_writes_one_report_per_task(handler_run: dict[str, Any]) -> None:
    handler: BoampsOutput = handler_run["complete"]
    tracker = handler_run["tracker"]
    assert sorted(handler.task_reports) == ["load", "train"]
    csv = handler_run["root"] / f"emissions_base_{tracker.run_id}.csv"
    for name, report in handler.task_reports.items():
        assert report.status == "valid"
        assert_same_as_csv(report, csv, TASK_CONTEXT, tracker)
        assert 0.4 < report.document["measures"][0]["measurementDuration"] < 5
        path = handler.written[report.report_id]  # type: ignore[index]
        assert json.loads(path.read_text()) == report.document, name
    files = sorted(p.name for p in (handler_run["root"] / "reports").iterdir())
    assert len(files) == 3 and all(f.startswith("report_Test-Lab_training_") for f in files)


def test_incomplete_context_gives_one_warning_and_a_draft(handler_run: dict[str, Any]) -> None:
    bare: BoampsOutput = handler_run["bare"]
    assert bare.report is not None and bare.report.status == "incomplete"
    assert_same_as_csv(bare.report, handler_run["root"] / "emissions.csv", None)
    assert len(bare.written) == 3  # the run and its two tasks, all drafts
    drafts = [r for r in handler_run["records"] if "draft" in r.getMessage()
              and r.levelno == logging.WARNING]
    # one line for the run and one for the tasks, each said once although out() and
    # task_out() ran for every handler
    assert len(drafts) == 2, [r.getMessage() for r in drafts]
    assert "missing required fields task.taskStage" in drafts[0].getMessage()


def test_handler_error_is_logged_never_raised(handler_run: dict[str, Any]) -> None:
    broken: BoampsOutput = handler_run["broken"]
    assert broken.written == {}
    assert broken.report is not None and broken.report.status == "valid"  # made, not written
    errors = [r.getMessage() for r in handler_run["records"] if r.levelno == logging.ERROR]
    assert any("no BoAmps report for the run" in m for m in errors), errors
    assert broken.problems and all(m.startswith("boamps-etl: ") for m in broken.problems)
    # the other handlers and CodeCarbon's own CSV were not disturbed
    assert (handler_run["root"] / "emissions.csv").is_file()
    assert handler_run["complete"].report.status == "valid"


# ----------------------------------------------------------------------------- notebook


def test_track_gives_the_report_after_the_block(tmp_path: Path, offline: list[str]) -> None:
    out = tmp_path / "nb"
    with be.track(context=TASK_CONTEXT, out=out, country="FR", project="notebook",
                  measure_power_secs=1) as run:
        assert run.report is None  # made when the tracker stops
        work(1.0)
    report = run.report
    assert report is not None and report.status == "valid"
    assert run.emissions_csv == out / "emissions.csv"
    assert_same_as_csv(report, out / "emissions.csv", TASK_CONTEXT)
    assert report.document["environment"]["countryIsoCode"] == "FRA"
    assert [p.parent for p in run.written] == [out]
    assert run.fallbacks  # this machine has no RAPL and no GPU, at least no GPU


def test_track_still_reports_when_the_block_fails(tmp_path: Path, offline: list[str]) -> None:
    with pytest.raises(ZeroDivisionError), \
            be.track(context=TASK_CONTEXT, out=tmp_path, country="FRA",
                     measure_power_secs=1) as run:
        work(0.5)
        1 / 0  # noqa: B018
    assert run.report is not None and run.report.status == "valid"
    assert_same_as_csv(run.report, tmp_path / "emissions.csv", TASK_CONTEXT)


def test_track_without_country_says_so_before_running(tmp_path: Path) -> None:
    with pytest.raises(be.BoampsEtlError, match="needs the country"), \
            be.track(context=TASK_CONTEXT, out=tmp_path):
        pytest.fail("the block must not run")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- run


CHILD = textwrap.dedent("""\
    import sys, time
    import numpy as np
    a = np.random.default_rng(0).random((200, 200))
    end = time.perf_counter() + 1.0
    while time.perf_counter() < end:
        a = a @ a
        a /= abs(a).max()
    sys.exit(int(sys.argv[1]))
    """)


@pytest.mark.parametrize("code", [0, 3])
def test_run_keeps_the_exit_code_and_writes_the_report(tmp_path: Path, offline: list[str],
                                                       code: int) -> None:
    context = tmp_path / "boamps.json"
    context.write_text(json.dumps({**TASK_CONTEXT,
                                   "environment": {"countryIsoCode": "FRA"}}))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", "--context", str(context), "--out", str(out),
                                      "--project", "cli", "--", sys.executable, "-c", CHILD,
                                      str(code)])
    assert result.exit_code == code, result.output
    assert f"ended with exit code {code}" in result.stderr
    assert "boamps-etl: valid report, level" in result.stderr
    [path] = out.glob("report_*.json")
    document = json.loads(path.read_text())
    [csv_report] = converted(out / "emissions.csv", context).values()
    assert without_live(document) == csv_report
    assert be.validate(document) == []
    assert document["measures"][0]["measurementDuration"] >= 1.0
    # the same run through the library gives the same kind of result
    if code == 0:
        again = be.run_command([sys.executable, "-c", CHILD, "0"], context=context,
                               out=tmp_path / "lib")
        assert again.returncode == 0 and again.report is not None
        assert again.report.status == "valid"
        assert_same_as_csv(again.report, tmp_path / "lib" / "emissions.csv", context)


# A second of NumPy work for CodeCarbon to measure, then "ready" in the marker file.
BUSY = """\
a = np.random.default_rng(0).random((200, 200))
end = time.perf_counter() + 1.0
while time.perf_counter() < end:
    a = a @ a
    a /= abs(a).max()
open(marker, "a").write("ready\\n")
"""

SIGNALLED = textwrap.dedent("""\
    import os, signal, sys, time
    import numpy as np
    marker = sys.argv[1]
    def on_term(signum, frame):
        open(marker, "a").write("SIGTERM\\n")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    signal.signal(signal.SIGTERM, on_term)
    {busy}
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        open(marker, "a").write("SIGINT\\n")
        raise
    """).replace("{busy}\n", BUSY)

# The boamps-etl process, with an audit hook that prints any network attempt.
LAUNCH = textwrap.dedent("""\
    import sys
    def hook(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
            sys.stderr.write(f"NETWORK {event} {args!r}\\n")
    sys.addaudithook(hook)
    from boamps_etl.cli import main
    main(sys.argv[1:])
    """)


@pytest.mark.parametrize(("signum", "expected"), [(signal.SIGINT, 130),
                                                  (signal.SIGTERM, 143)])
def test_run_passes_signals_on_and_reports_the_measured_part(tmp_path: Path, signum: int,
                                                             expected: int) -> None:
    marker = tmp_path / "marker.txt"
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODECARBON_")}
    # a session of its own: no terminal, so the signal reaches the command only through
    # boamps-etl run
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "run", "--country", "FRA", "--out", str(out),
         "--set", "task.taskStage=inference", "--", sys.executable, "-c", SIGNALLED,
         str(marker)],
        stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and "ready" in marker.read_text()):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.05)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == expected, stderr
    assert marker.read_text().split() == ["ready", signal.Signals(signum).name]
    assert "NETWORK" not in stderr
    assert f"exit code {expected} (after {signal.Signals(signum).name})" in stderr
    assert "boamps-etl: draft report (" in stderr  # the context is incomplete
    assert stderr.count("written as a draft") == 1
    [path] = out.glob("report_*.json")
    document = json.loads(path.read_text())
    [csv_report] = converted(out / "emissions.csv", {"task": {"taskStage": "inference"}}
                             ).values()
    assert without_live(document) == csv_report
    assert document["header"]["reportStatus"] == "draft"
    assert document["measures"][0]["measurementDuration"] >= 1.0
    assert all(i.code == "missing-field" for i in be.validate(document))


def test_run_command_not_found_and_no_country(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", "--country", "FRA", "--out", str(out), "--",
                                      "no-such-program-boamps"])
    assert result.exit_code == 127
    assert result.stderr.startswith("error: no-such-program-boamps: command not found")
    result = CliRunner().invoke(cli, ["run", "--out", str(out), "--", sys.executable, "-c",
                                      "open('ran', 'w')"])
    assert result.exit_code == 2
    assert "needs the country where the job runs" in result.stderr
    result = CliRunner().invoke(cli, ["run", "--country", "XX", "--", sys.executable, "-V"])
    assert result.exit_code == 2 and "'XX' is not an ISO 3166 country code" in result.stderr
    assert not out.exists() and not Path("ran").exists()


def test_run_unknown_option_before_the_command_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for option in ("--allow-incomplete", "--contxt=a.yaml"):
        result = CliRunner().invoke(cli, ["run", "--country", "FRA", "--out", str(out),
                                          option, "--", sys.executable, "-c",
                                          "open('ran', 'w')"])
        assert result.exit_code == 2, result.output
        name = option.split("=")[0]
        assert f"No such option '{name}'" in result.stderr
        assert "command not found" not in result.stderr
    assert "Did you mean" in result.stderr and "'--context'" in result.stderr
    assert not out.exists() and not Path("ran").exists()


def test_without_codecarbon_the_entry_points_say_how_to_install_it(tmp_path: Path) -> None:
    script = textwrap.dedent("""\
        import sys
        sys.modules["codecarbon"] = None  # as if it were not installed
        import boamps_etl as be
        from boamps_etl import *  # noqa: F403 (works without the extra)
        for use in (lambda: be.track(country="FRA").__enter__(),
                    lambda: be.BoampsOutput,
                    lambda: be.run_command(["true"], country="FRA")):
            try:
                use()
            except be.MissingExtraError as exc:
                print(exc)
        from boamps_etl.cli import main
        main(["run", "--country", "FRA", "--", "true"])
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    assert all("needs CodeCarbon (>=3.0,<4), which is not installed "
               "(pip install 'boamps-etl[track]')" in line for line in lines), lines
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: boamps-etl run needs CodeCarbon")
    assert list(tmp_path.iterdir()) == []


COUNTING = textwrap.dedent("""\
    import signal, sys, time
    import numpy as np
    marker = sys.argv[1]
    got = []
    def on_int(signum, frame):
        got.append(signum)
        open(marker, "a").write("SIGINT\\n")
    signal.signal(signal.SIGINT, on_int)
    {busy}
    end = time.perf_counter() + 60
    while not got and time.perf_counter() < end:
        time.sleep(0.05)
    time.sleep(1.5)  # time for a second SIGINT, if one were sent
    sys.exit(5)
    """).replace("{busy}\n", BUSY)


def test_ctrl_c_in_a_terminal_reaches_the_command_once(tmp_path: Path) -> None:
    """Ctrl-C typed in a terminal goes to the whole foreground group, the command included:
    it gets SIGINT (once), its own exit code is kept and the report is written. (Two SIGINTs
    sent within microseconds are merged by the kernel, so the next test checks the decision
    not to send it again.)"""
    import pty

    marker = tmp_path / "marker.txt"
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODECARBON_")}
    argv = [sys.executable, "-m", "boamps_etl", "run", "--country", "FRA", "--out", str(out),
            "--", sys.executable, "-c", COUNTING, str(marker)]
    pid, fd = pty.fork()  # the child gets a new session with the pty as its terminal
    if pid == 0:  # pragma: no cover (replaced by exec)
        os.execve(sys.executable, argv, env)
    output = b""
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and "ready" in marker.read_text()):
            assert time.monotonic() < deadline, output.decode(errors="replace")
            output += _drain(fd)
            time.sleep(0.05)
        os.write(fd, b"\x03")  # Ctrl-C, as typed
        while True:
            chunk = _drain(fd, 0.2)
            output += chunk
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline + 60, output.decode(errors="replace")
    finally:
        os.close(fd)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 5, text  # the command's own exit code
    assert marker.read_text().split() == ["ready", "SIGINT"]
    assert "exit code 5 (after SIGINT)" in text
    assert len(list(out.glob("report_*.json"))) == 1


def _drain(fd: int, wait: float = 0.0) -> bytes:
    import select

    data = b""
    while select.select([fd], [], [], wait)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        data += chunk
        wait = 0.0
    return data


DECIDES = ("from boamps_etl.tracking.command import _terminal_sends_sigint as f; "
           "print('terminal' if f() else 'none')")


def test_sigint_is_passed_on_only_without_a_terminal_foreground() -> None:
    import pty

    pid, fd = pty.fork()  # in the foreground of a terminal: Ctrl-C reaches the command
    if pid == 0:  # pragma: no cover (replaced by exec)
        os.execv(sys.executable, [sys.executable, "-c", DECIDES])
    output = b""
    try:
        while True:
            chunk = _drain(fd, 0.2)
            output += chunk
            if os.waitpid(pid, os.WNOHANG)[0]:
                output += _drain(fd)
                break
    finally:
        os.close(fd)
    assert output.decode().split() == ["terminal"]
    alone = subprocess.run([sys.executable, "-c", DECIDES], capture_output=True, text=True,
                           start_new_session=True, timeout=60)
    assert alone.stdout.split() == ["none"]  # no terminal: boamps-etl run passes it on
