"""``make run``'s processes: a crashed one is started again, the others keep running; one that
cannot start stops everything; a second stack on the same ports is refused."""
import io
import os
import signal
import socket
import sys
import time

import pytest

from devtools import run, servers
from devtools.supervise import Supervisor

SLEEPER = "%s -c 'import time; print(\"up\", flush=True); time.sleep(600)'" % sys.executable


def until(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "not within %.0fs" % seconds
        time.sleep(0.05)


@pytest.fixture
def procfile(tmp_path):
    path = tmp_path / "Procfile"
    path.write_text("one: %s\ntwo: %s\n" % (SLEEPER, SLEEPER))
    return path


def test_a_killed_process_is_started_again_and_the_others_keep_running(procfile, tmp_path):
    log = open(tmp_path / "out.log", "w+")
    supervisor = Supervisor(procfile, dict(os.environ), str(tmp_path), log)
    try:
        supervisor.keep_running()
        first, other = supervisor.pid("one"), supervisor.pid("two")
        until(lambda: (tmp_path / "out.log").read_text().count("one.1 | up") == 1)
        os.kill(first, signal.SIGKILL)
        until(lambda: supervisor.restarts["one"] == 1)
        assert supervisor.pid("one") != first
        assert supervisor.pid("two") == other and supervisor.restarts["two"] == 0
        assert supervisor.poll() is None
        until(lambda: (tmp_path / "out.log").read_text().count("one.1 | up") == 2)
        text = (tmp_path / "out.log").read_text()
        assert "one.1 | exited with code -9; starting it again" in text
    finally:
        supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(10) == 0
    for pid in (supervisor.pid("one"), supervisor.pid("two")):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_process_that_exits_while_the_stack_starts_stops_everything(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("broken: %s -c 'raise SystemExit(3)'\nfine: %s\n" % (sys.executable, SLEEPER))
    supervisor = Supervisor(procfile, dict(os.environ), str(tmp_path), open(tmp_path / "out.log", "w"))
    assert supervisor.wait(20) == 3
    with pytest.raises(ProcessLookupError):
        os.kill(supervisor.pid("fine"), 0)


def test_a_second_stack_on_the_ports_of_a_running_one_is_refused():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        env = {"GATEWAY_PORT": str(port), "HEALTH_PORT": ""}
        env.update({name.upper() + "_HEALTH_PORT": "0" for name in run.health_ports({})})
        with pytest.raises(servers.SetupError, match="already running here .*gateway on %d" % port):
            run.refuse_a_second_stack(env)
    run.refuse_a_second_stack(env)  # nothing answers once it is gone


def test_make_run_twice_from_one_checkout_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(run.cfg, "LOCAL_DIR", tmp_path)
    held = run.hold_run_lock()
    try:
        with pytest.raises(servers.SetupError, match=r"already running from this checkout \(pid %d\)" % os.getpid()):
            run.hold_run_lock()
    finally:
        held.close()
    run.hold_run_lock().close()


def test_make_run_s_procfile_starts_every_component_from_a_module_of_this_checkout():
    """The Procfile is what ``devtools.run`` hands the supervisor (honcho is gone): each line a
    ``python -m`` of a module here, run with the virtualenv's python first on PATH."""
    import importlib.util
    from devtools.supervise import read_procfile
    from plumbing import config as cfg
    entries = read_procfile(cfg.REPO_ROOT / "Procfile")
    commands = dict(entries)
    assert len(commands) == len(entries)  # no name twice
    assert set(cfg.ALL_COMPONENTS) <= set(commands)
    for name, command in entries:
        python, flag, module = command.split()
        assert (python, flag) == ("python", "-m"), command
        assert importlib.util.find_spec(module) is not None, command
