"""The circuit breaker's states, on a clock of our own."""
import pytest

from plumbing.circuit import CLOSED, HALF_OPEN, OPEN, Circuit
from plumbing.errors import ServiceUnavailable


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def circuit():
    return Circuit("redemption", failures=3, open_seconds=10, clock=Clock())


def refused(circuit):
    with pytest.raises(ServiceUnavailable) as caught:
        circuit.before_call()
    return caught.value


def test_failures_in_a_row_open_it_and_an_answer_in_between_starts_the_count_again(circuit):
    for _ in range(2):
        assert circuit.before_call() is False
        circuit.failed()
    circuit.succeeded()
    for _ in range(2):
        circuit.failed()
    assert circuit.state == CLOSED
    circuit.failed()
    assert circuit.state == OPEN
    error = refused(circuit)
    assert error.status == 503 and error.code == "circuit_open"
    assert error.fields == {"retry_after": ["10"]}


def test_after_the_pause_one_probe_goes_through_and_its_answer_closes_it(circuit):
    for _ in range(3):
        circuit.failed()
    circuit.clock.now += 9.5
    assert refused(circuit).fields == {"retry_after": ["1"]}
    circuit.clock.now += 0.5
    assert circuit.before_call() is True  # the probe
    assert circuit.state == HALF_OPEN
    refused(circuit)  # only one probe at a time
    circuit.succeeded(probe=True)
    assert circuit.state == CLOSED
    assert circuit.before_call() is False


def test_a_failed_probe_opens_it_for_another_pause(circuit):
    for _ in range(3):
        circuit.failed()
    circuit.clock.now += 10
    assert circuit.before_call() is True
    circuit.failed(probe=True)
    assert circuit.state == OPEN
    assert refused(circuit).fields == {"retry_after": ["10"]}
    circuit.clock.now += 10
    assert circuit.before_call() is True


def test_a_probe_that_ends_without_an_answer_lets_the_next_call_probe(circuit):
    for _ in range(3):
        circuit.failed()
    circuit.clock.now += 10
    assert circuit.before_call() is True
    circuit.abandoned(probe=True)
    assert circuit.before_call() is True


def test_late_failures_of_calls_let_through_before_it_opened_do_not_extend_the_pause(circuit):
    for _ in range(3):
        circuit.failed()
    opened = circuit.opened_at
    circuit.clock.now += 4
    circuit.failed()
    assert circuit.opened_at == opened
