"""The Procfile's processes, kept running as Kubernetes keeps pods running.

honcho stops every process when one exits; ``Supervisor`` instead starts a crashed process again
(after a pause that doubles while it keeps crashing, up to ``MAX_BACKOFF``), so one ``kill -9`` or
crash costs one service a few seconds, not the whole stack. Until ``keep_running()`` is called (the
stack is ready) an exit stops everything instead: a process that cannot start says why once rather
than looping. Log lines are prefixed as honcho prefixes them (``12:00:01 gateway.1 | ...``).
"""
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 15.0
STEADY_SECONDS = 30.0  # a process up this long has recovered: its next crash waits FIRST_BACKOFF


def read_procfile(path):
    """``[(name, command)]`` of a Procfile, in order."""
    entries = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            name, command = line.split(":", 1)
            entries.append((name.strip(), command.strip()))
    return entries


class Supervisor:
    """``poll()``/``wait()``/``send_signal()``/``kill()`` as a ``Popen`` of the whole set; ``pid(name)``
    and ``restarts[name]`` for whoever breaks them on purpose (``devtools.faults``)."""

    def __init__(self, procfile, env, cwd, stdout=None):
        self.entries = read_procfile(procfile)
        self.env, self.cwd = env, cwd
        self._fd = (stdout or sys.stdout).fileno()
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._children = {}
        self._started_at = {}
        self._backoff = {name: FIRST_BACKOFF for name, _ in self.entries}
        self.restarts = {name: 0 for name, _ in self.entries}
        self._restart = False
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self.returncode = None
        for name, command in self.entries:
            self._start(name, command)
        self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._watcher.start()

    # -- output -------------------------------------------------------------------------------
    def say(self, name, text):
        line = "%s %s.1 | %s\n" % (time.strftime("%H:%M:%S"), name, text.rstrip("\n"))
        with self._write_lock:
            try:
                os.write(self._fd, line.encode("utf-8", "replace"))
            except OSError:
                pass

    def _pump(self, name, pipe):
        for raw in iter(pipe.readline, b""):
            self.say(name, raw.decode("utf-8", "replace"))
        pipe.close()

    # -- the processes ------------------------------------------------------------------------
    def _start(self, name, command):
        child = subprocess.Popen(["/bin/sh", "-c", "exec " + command], env=self.env, cwd=self.cwd,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        with self._lock:
            self._children[name] = child
            self._started_at[name] = time.monotonic()
        threading.Thread(target=self._pump, args=(name, child.stdout), daemon=True).start()
        self.say(name, "started with pid %d" % child.pid)

    def keep_running(self):
        """From now on a process that exits is started again instead of stopping everything."""
        self._restart = True

    def pid(self, name):
        return self._children[name].pid

    def _watch(self):
        pending = {}  # name -> when to start it again
        while not self._stopping.is_set():
            now = time.monotonic()
            for name, command in self.entries:
                child = self._children[name]
                if name in pending:
                    if now >= pending[name]:
                        del pending[name]
                        self._start(name, command)
                        self.restarts[name] += 1  # once it is started: whoever counts reads its new pid
                    continue
                code = child.poll()
                if code is None:
                    if now - self._started_at[name] > STEADY_SECONDS:
                        self._backoff[name] = FIRST_BACKOFF
                    continue
                if not self._restart:
                    self.say(name, "exited with code %s while starting: stopping everything" % code)
                    threading.Thread(target=self._stop_all, args=(code or 1,), daemon=True).start()
                    return
                delay = self._backoff[name]
                self._backoff[name] = min(delay * 2, MAX_BACKOFF)
                self.say(name, "exited with code %s; starting it again in %.1fs" % (code, delay))
                pending[name] = now + delay
            self._stopping.wait(0.2)

    def _stop_all(self, returncode=0, timeout=30.0):
        with self._lock:
            if self._stopping.is_set() and self._stopped.is_set():
                return
            self._stopping.set()
            children = dict(self._children)
        for name, child in children.items():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(name, "did not stop in time: killed")
                child.kill()
                child.wait()
        if self.returncode is None:
            self.returncode = returncode
        self._stopped.set()

    # -- Popen's face -------------------------------------------------------------------------
    def poll(self):
        return self.returncode if self._stopped.is_set() else None

    def wait(self, timeout=None):
        if not self._stopped.wait(timeout):
            raise subprocess.TimeoutExpired("supervisor", timeout)
        return self.returncode

    def send_signal(self, signum):
        if signum in (signal.SIGTERM, signal.SIGINT):
            self._stop_all(0)
        else:
            for child in self._children.values():
                child.send_signal(signum)

    def terminate(self):
        self._stop_all(0)

    def kill(self):
        self._stop_all(-9, timeout=0.1)

    def __repr__(self):
        return "Supervisor(%s)" % ", ".join("%s=%s" % (n, shlex.quote(str(c.pid))) for n, c in self._children.items())
