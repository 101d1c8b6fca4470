"""One case per event type: what its publisher emits loads in every consumer, without the chain.

For each event of each contract: a realistic payload built through the contract (``tests/events.py``)
survives the wire (JSON) as an equal object, and every field that a consumer reads from it (its
handler, the handler's ``when=``, and whatever the handler hands the event to, read from their
source) is a field the event declares. A consumer reading a field its publisher does not state
fails here, not in production.
"""
import ast
import importlib
import inspect
import json
import textwrap

import pytest

from plumbing import config as cfg
from plumbing.contracts import events_in
from plumbing.revocation import Revocations
from plumbing.topology import EVENT_CONTRACTS
from tests.conftest import service_classes
from tests.events import EXAMPLES, example

EVENT_MODULES = sorted(EVENT_CONTRACTS.values())
EVENTS = sorted((event for module in EVENT_MODULES for event in events_in(importlib.import_module(module))),
                key=lambda event: event.key())
# consumers that are not event handlers: every process learns revocations (plumbing.revocation)
OTHER_CONSUMERS = {"gateway.session_revoked": [("every process", Revocations.remember, "revoked")]}


class Unfollowable(AssertionError):
    """The event is used in a way this test cannot check: read its fields by name (``event.x``)."""


def handlers():
    """(service class, method name, the decorated method) of every ``@event_handler``."""
    return [(cls, name, method) for cls in service_classes() for name, method in vars(cls).items()
            if getattr(method, "event_class", None) is not None]


def consumers_of(event):
    found = [("%s.%s" % (cls.name, name), method, cls) for cls, name, method in handlers()
             if method.event_class is event]
    return found


# -- what a function reads of the event it is given ------------------------------------------------
def source_tree(function):
    return ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]


def parameters(function, bound):
    names = list(inspect.signature(function).parameters)
    return names[1:] if bound else names


def resolve(call, function, owner):
    """The function ``call`` calls, and whether ``self`` is bound, or Unfollowable."""
    target = call.func
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        if target.value.id == "self" and owner is not None:
            static = isinstance(inspect.getattr_static(owner, target.attr), staticmethod)
            return inspect.unwrap(getattr(owner, target.attr)), not static
        module = function.__globals__.get(target.value.id)
        if inspect.ismodule(module):
            return inspect.unwrap(getattr(module, target.attr)), False
    if isinstance(target, ast.Name) and inspect.isfunction(function.__globals__.get(target.id)):
        return function.__globals__[target.id], False
    raise Unfollowable("%s passes the event to %s" % (function.__qualname__, ast.unparse(target)))


def reads_in(tree, param, function, owner, seen):
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    found = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and node.id == param):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            found.add(parent.attr)
        elif isinstance(parent, ast.Call) and node in parent.args:
            callee, bound = resolve(parent, function, owner)
            found |= reads(callee, parameters(callee, bound)[parent.args.index(node)], owner, seen)
        elif isinstance(parent, ast.keyword) and isinstance(parents.get(parent), ast.Call):
            callee, _ = resolve(parents[parent], function, owner)
            found |= reads(callee, parent.arg, owner, seen)
        else:
            raise Unfollowable("%s uses the event as %s" % (function.__qualname__, ast.unparse(parent)))
    return found


def reads(function, param, owner=None, seen=None):
    """Every field of the event in ``param`` that ``function`` reads, following the event into the
    functions it passes it to (``self.`` methods of ``owner``, module functions)."""
    seen = set() if seen is None else seen
    if (function, param) in seen:
        return set()
    seen.add((function, param))
    return reads_in(source_tree(function), param, function, owner, seen)


def handler_reads(method, owner):
    """What an ``@event_handler`` reads: its ``when=`` and its body."""
    function = inspect.unwrap(method)
    tree = source_tree(function)
    found = reads(function, parameters(function, True)[0], owner)
    for decorator in tree.decorator_list:
        for keyword in getattr(decorator, "keywords", ()):
            if keyword.arg == "when" and isinstance(keyword.value, ast.Lambda):
                lam = keyword.value
                found |= reads_in(lam.body, lam.args.args[0].arg, function, owner, set())
    return found


# -- the cases -------------------------------------------------------------------------------------
def test_every_event_of_every_contract_is_here_with_an_example():
    assert len(EVENTS) >= 26
    assert set(EVENTS) <= set(EXAMPLES)
    assert len({event.key() for event in EVENTS}) == len(EVENTS)


def case_id(event):
    consumers = [name for name, _, _ in consumers_of(event) + OTHER_CONSUMERS.get(event.key(), [])]
    return "%s->%s" % (event.key(), ",".join(consumers) or "nobody")


@pytest.mark.parametrize("event", EVENTS, ids=case_id)
def test_what_the_publisher_emits_loads_in_every_consumer(event):
    payload = example(event)
    wire = json.loads(json.dumps(event.to_wire(payload)))
    assert set(wire) == set(event.field_names())
    assert event.from_wire(wire) == payload
    declared = set(event.field_names())
    for name, method, owner in consumers_of(event):
        table = getattr(inspect.unwrap(method), "fields_read", None)  # a table-driven handler says what it reads
        assert (table(payload) if table else handler_reads(method, owner)) <= declared, name
    for name, function, param in OTHER_CONSUMERS.get(event.key(), []):
        assert reads(function, param) <= declared, name


@pytest.mark.parametrize("event", [e for e in EVENTS if e.event_source in cfg.SERVICES], ids=lambda event: event.key())
def test_every_event_is_published_by_its_own_service(event):
    """Its class is used by the publisher's code (outside its contract), and by nobody else's."""
    def uses(service):
        return any(event.__name__ in path.read_text() for path in (cfg.REPO_ROOT / "services" / service).rglob("*.py")
                   if "contract" not in path.parts and "migrations" not in path.parts)
    assert uses(event.event_source)


# -- the checker itself ----------------------------------------------------------------------------
class Reader:
    @staticmethod
    def helper(payload, other):
        return payload.amount + other

    def handle(self, event):
        return self.helper(event, 1) + describe(event=event) + event.currency

    def sloppy(self, event):
        return getattr(event, "amount")


def describe(event):
    return event.not_declared


def test_the_checker_follows_the_event_and_catches_a_field_nobody_declares():
    assert reads(Reader.handle, "event", Reader) == {"amount", "currency", "not_declared"}
    with pytest.raises(Unfollowable):
        reads(Reader.sloppy, "event", Reader)


def test_handlers_are_found_with_their_when_and_what_they_hand_the_event_to():
    from services.campaign.service import CampaignService
    from services.settlement.service import SettlementService
    names = {"%s.%s" % (cls.name, name) for cls, name, _ in handlers()}
    assert {"settlement.record_redemption", "support.open_ticket_for_settlement_exception",
            "campaign.spend_budget_and_points", "notification.email_payout_account_change"} <= names
    assert {"campaign_id", "points_reservation_id", "reference", "amount"} <= handler_reads(
        CampaignService.spend_budget_and_points, CampaignService)
    # redemption_postings(event), in settlement's domain, reads the funding
    assert "funding_agreement_id" in handler_reads(SettlementService.record_redemption, SettlementService)
