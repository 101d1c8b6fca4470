"""A circuit breaker per called service, per process.

A caller that keeps waiting ``RPC_TIMEOUT`` for a service that is down holds a worker for each
request; with a handful of such requests every worker of the gateway waits and the routes of the
healthy services wait behind them. After ``CIRCUIT_FAILURES`` failures in a row (no answer in
time, the service not there, the broker unreachable) the circuit opens: calls fail at once with
a 503 ``circuit_open`` that says when to come back. After ``CIRCUIT_OPEN_SECONDS`` one call, the
probe, goes through (the others are still refused): its answer closes the circuit, its failure
opens it again. An answer that is an error (a 4xx, or the service's own 503) is an answer: the
service is there.
"""
import math
import threading
import time
import weakref

from plumbing.errors import ServiceUnavailable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
DEFAULT_FAILURES = 5
DEFAULT_OPEN_SECONDS = 5.0


class Circuit:
    def __init__(self, name, failures=DEFAULT_FAILURES, open_seconds=DEFAULT_OPEN_SECONDS, clock=time.monotonic):
        self.name = name
        self.threshold = max(1, int(failures))
        self.open_seconds = float(open_seconds)
        self.clock = clock
        self.state = CLOSED
        self.failures = 0
        self.opened_at = None
        self._probing = False
        self._lock = threading.Lock()  # green under eventlet; a real lock where nothing is patched

    def before_call(self):
        """Let a call go through (returns whether it is the probe), or raise ServiceUnavailable."""
        with self._lock:
            if self.state == CLOSED:
                return False
            waited = self.clock() - self.opened_at
            if self.state == OPEN and waited >= self.open_seconds:
                self.state = HALF_OPEN
            if self.state == HALF_OPEN and not self._probing:
                self._probing = True
                return True
            retry_after = max(1, math.ceil(self.open_seconds - waited))
        raise ServiceUnavailable(
            "The %s service is not answering; not trying again for %ds" % (self.name, retry_after),
            code="circuit_open", fields={"retry_after": [str(retry_after)]})

    def succeeded(self, probe=False):
        with self._lock:
            if probe or self.state == CLOSED:
                self.state, self.failures, self.opened_at = CLOSED, 0, None
            if probe:
                self._probing = False

    def failed(self, probe=False):
        with self._lock:
            if probe:
                self._probing = False
                self.state, self.opened_at = OPEN, self.clock()
                return
            if self.state != CLOSED:
                return  # a call let through before the circuit opened: it is open already
            self.failures += 1
            if self.failures >= self.threshold:
                self.state, self.opened_at = OPEN, self.clock()

    def abandoned(self, probe=False):
        """The call ended without telling either way (the caller's own error)."""
        if probe:
            with self._lock:
                self._probing = False


_circuits = weakref.WeakKeyDictionary()  # container -> {service name: Circuit}


def circuit_for(container, service_name):
    """The one circuit of ``container`` (a process's service) for calls to ``service_name``."""
    circuits = _circuits.setdefault(container, {})
    if service_name not in circuits:
        config = container.config
        circuits[service_name] = Circuit(
            service_name, failures=config.get("CIRCUIT_FAILURES", DEFAULT_FAILURES),
            open_seconds=config.get("CIRCUIT_OPEN_SECONDS", DEFAULT_OPEN_SECONDS))
    return circuits[service_name]
