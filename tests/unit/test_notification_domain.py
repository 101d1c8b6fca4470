"""Who hears about what, and how money reads in an inbox, without a database."""
import uuid

import pytest

from services.notification import domain
from services.support.domain import CATEGORIES, PRIORITIES


@pytest.mark.parametrize("amount,currency,text", [
    (2500, "ZAR", "ZAR 25.00"),
    (0, "ZAR", "ZAR 0.00"),
    (5, "EUR", "EUR 0.05"),
    (99, "USD", "USD 0.99"),
    (100, "USD", "USD 1.00"),
    (123456789, "GBP", "GBP 1234567.89"),
    (-2500, "ZAR", "-ZAR 25.00"),
    (-5, "EUR", "-EUR 0.05"),
    (-100, "USD", "-USD 1.00"),
    # minor units are not always cents
    (500, "JPY", "JPY 500"),
    (-500, "KRW", "-KRW 500"),
    (0, "JPY", "JPY 0"),
    (1500, "BHD", "BHD 1.500"),
    (-1, "KWD", "-KWD 0.001"),
])
def test_money_is_minor_units_shown_in_major_units(amount, currency, text):
    assert domain.money(amount, currency) == text


def test_no_amount_or_no_currency_shows_nothing():
    assert domain.money(None, "ZAR") is None
    assert domain.money(2500, None) is None
    assert domain.money(2500, "") is None


def ticket_created(priority="normal", category="onboarding", refs=None):
    return {"ticket_id": str(uuid.uuid4()), "reference": "SUP-104", "merchant_id": str(uuid.uuid4()),
            "subject": "Wallet setup", "category": category, "priority": priority,
            "refs": refs or {}}


def audiences(event):
    return sorted(message["audience_role"] for message in domain.ticket_created_messages(event))


def test_a_new_ticket_reaches_the_support_panel():
    assert audiences(ticket_created()) == sorted(domain.SUPPORT_PANEL_ROLES)
    assert set(domain.SUPPORT_PANEL_ROLES) == {"owner", "support_agent"}


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("priority", PRIORITIES)
def test_finance_hears_of_settlement_and_critical_tickets_only(category, priority):
    roles = audiences(ticket_created(priority, category))
    assert ("finance" in roles) == (category == "settlement" or priority == "critical")
    assert "store_user" not in roles  # a role-wide message would show other stores' tickets
    assert "admin" not in roles  # platform admins have no merchant inbox
    assert len(roles) == len(set(roles))  # one message per audience


def test_a_critical_settlement_ticket_reads_as_such_with_its_amount():
    refs = {"batch_reference": "SET-2026-05-004", "amount": 2500, "currency": "ZAR",
            "exception_id": str(uuid.uuid4())}
    messages = domain.ticket_created_messages(ticket_created("critical", "settlement", refs))
    assert len(messages) == 3
    for message in messages:
        assert message["kind"] == "ticket_created"
        assert message["title"] == "Critical ticket SUP-104"
        assert message["body"] == "SUP-104 Wallet setup (critical priority), amount ZAR 25.00"
        assert message["refs"] == dict(refs, ticket_reference="SUP-104")


def test_a_normal_ticket_without_money_says_so_plainly():
    message = domain.ticket_created_messages(ticket_created())[0]
    assert message["title"] == "New ticket SUP-104"
    assert message["body"] == "SUP-104 Wallet setup (normal priority)"
    assert message["refs"] == {"ticket_reference": "SUP-104"}


def test_a_zero_or_negative_amount_is_still_shown():
    zero = ticket_created("critical", "settlement", {"amount": 0, "currency": "EUR"})
    assert domain.ticket_created_messages(zero)[0]["body"].endswith(", amount EUR 0.00")
    negative = ticket_created("critical", "settlement", {"amount": -1250, "currency": "EUR"})
    assert domain.ticket_created_messages(negative)[0]["body"].endswith(", amount -EUR 12.50")


def test_a_lockout_alerts_the_owners():
    from services.notification.domain import lockout_messages
    [message] = lockout_messages({"scope": "store", "scope_id": "s1", "store_id": "s1", "failures": 40,
                                  "locked_until": "2026-11-22T13:45:00+00:00", "user": {"username": "till-3"}})
    assert message["audience_role"] == "owner" and message["kind"] == "redemption_lockout"
    assert "a store" in message["body"] and "13:45 UTC" in message["body"] and "till-3" in message["body"]
