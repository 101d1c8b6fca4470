"""Who hears about what, and how money reads in an inbox, without a database."""
import uuid

import pytest

from services.notification import domain
from services.notification.email import SmtpSettings, compose, send
from services.redemption.contract.events import RedemptionLockout
from services.settlement.contract.events import PayoutAccountConfirmed, PayoutAccountSet, PayoutVerificationRequested
from services.support.contract.enums import CATEGORIES, PRIORITIES
from services.support.contract.events import TicketCreated
from tests.events import example


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
    return example(TicketCreated, reference="SUP-104", subject="Wallet setup", category=category, priority=priority,
                   refs=refs or {})


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
    [message] = lockout_messages(example(RedemptionLockout, scope="store", failures=40,
                                         locked_until="2026-11-22T13:45:00+00:00",
                                         user={"user_id": "u-3", "username": "till-3", "role": "store_user"}))
    assert message["audience_role"] == "owner" and message["kind"] == "redemption_lockout"
    assert "a store" in message["body"] and "13:45 UTC" in message["body"] and "till-3" in message["body"]


# -- the payout address ------------------------------------------------------------------------

def payout_set(previous="wallet…1111", **extra):
    return example(PayoutAccountSet, **dict(dict(
        wallet_address="wallet…2222", previous_address=previous,
        set_by={"user_id": "u-1", "username": "owner-ann", "role": "owner"}, set_at="2026-05-10T09:00:00+00:00",
        cooling_off_until="2026-05-13T09:00:00+00:00", contact_email="owner@shop.example",
        merchant_name="The Shop"), **extra))


def test_a_first_address_is_set_and_a_new_one_changed_for_the_owners_only():
    [first] = domain.payout_account_set_messages(payout_set(previous=None))
    assert (first["audience_role"], first["kind"], first["title"]) == ("owner", "payout_account_set",
                                                                      "Payout wallet address set")
    assert first["body"].startswith("owner-ann (owner) set the payout wallet address to wallet…2222 on "
                                    "2026-05-10 09:00 UTC.")
    [change] = domain.payout_account_set_messages(payout_set())
    assert change["title"] == "Payout wallet address changed"
    assert "from wallet…1111 to wallet…2222" in change["body"] and "2026-05-13 09:00 UTC" in change["body"]
    assert change["refs"] == {"wallet_address": "wallet…2222", "previous_address": "wallet…1111",
                              "cooling_off_until": "2026-05-13T09:00:00+00:00"}


def test_a_confirmation_says_how_it_was_checked_and_when_payouts_start():
    [message] = domain.payout_account_confirmed_messages(example(
        PayoutAccountConfirmed, wallet_address="wallet…2222", method="email_code",
        confirmed_at="2026-05-11T10:00:00+00:00", payable_from="2026-05-13T09:00:00+00:00"))
    assert message["body"] == ("VowRewards confirmed the payout wallet address wallet…2222 with the code emailed "
                               "to your contact address on 2026-05-11 10:00 UTC. Payouts go to it from "
                               "2026-05-13 09:00 UTC.")
    assert message["audience_role"] == "owner"


def test_the_change_email_names_the_change_and_the_hold():
    subject, body = domain.payout_change_email(payout_set())
    assert subject == "VowRewards: the payout wallet address of The Shop was changed"
    assert ("was changed from wallet…1111 to wallet…2222\nby owner-ann (owner) on 2026-05-10 09:00 UTC."
            in body)
    assert "not before 2026-05-13 09:00 UTC" in body and "not confirm it" in body
    assert max(len(line) for line in body.splitlines()) < 78  # readable as it lies in a mail file
    subject, _ = domain.payout_change_email(payout_set(previous=None, merchant_name=None))
    assert subject == "VowRewards: the payout wallet address of your business was set"


def test_the_code_email_carries_the_code_the_full_address_and_the_expiry():
    subject, body = domain.verification_code_email(example(
        PayoutVerificationRequested, merchant_name="The Shop", code="4821 0937",
        wallet_address="wallet-0123456789abcdef", expires_at="2026-05-10T09:30:00+00:00"))
    assert subject == "VowRewards: your payout address verification code"
    assert "    wallet-0123456789abcdef\n" in body and "    4821 0937\n" in body
    assert "works until 2026-05-10 09:30 UTC" in body and "do not share the code" in body
    assert max(len(line) for line in body.splitlines()) < 78


def test_an_email_is_plain_text_with_a_message_id_that_is_the_same_on_every_try():
    settings = SmtpSettings.from_config({"SMTP_HOST": "mail.example", "SMTP_FROM": "VowRewards <pay@vow.example>"})
    assert (settings.host, settings.port, settings.starttls, settings.user) == ("mail.example", 25, False, None)
    first = compose(settings, "owner@shop.example", "Subject", "Body\n", "delivery-1")
    again = compose(settings, "owner@shop.example", "Subject", "Body\n", "delivery-1")
    assert first["Message-ID"] == again["Message-ID"] == "<delivery-1@vow.example>"
    assert (first["From"], first["To"], first.get_content_type()) == (
        "VowRewards <pay@vow.example>", "owner@shop.example", "text/plain")
    assert SmtpSettings.from_config({"SMTP_HOST": "h", "SMTP_PORT": "587", "SMTP_STARTTLS": "1",
                                     "SMTP_USER": "u", "SMTP_PASSWORD": "p"}).starttls is True


def test_without_an_smtp_host_sending_fails_loudly():
    settings = SmtpSettings.from_config({})
    with pytest.raises(RuntimeError, match="SMTP_HOST"):
        send(settings, compose(settings, "owner@shop.example", "Subject", "Body", "d-1"))
