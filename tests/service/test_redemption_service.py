"""The redemption service in a real container, on this run's PostgreSQL and RabbitMQ.

Issuing asks a real campaign container who funds a voucher; where a test must watch what is
asked of the campaign service (hybrid redemptions), that dependency is replaced instead. What
redemption emits is read from its own outbox table.
"""
import uuid

import eventlet
import psycopg2
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import replace_dependencies

from plumbing.errors import Conflict, Locked, NotFound, TooManyRequests, ValidationFailed
from services.campaign.service import CampaignService
from services.redemption import jobs, storage
from services.redemption.codes import generate_code
from services.redemption.service import RedemptionService
from tests.conftest import QR_TEST_KEY
from tests.service.conftest import call, new_id, started, wait_until


@pytest.fixture(scope="module")
def redemption(make_config):
    with started(CampaignService, make_config("campaign")):
        with started(RedemptionService, make_config("redemption", QR_SIGNING_KEYS=[QR_TEST_KEY])) as container:
            yield container


@pytest.fixture
def shop(redemption, as_user):
    """A merchant with a store, its owner and one till user (the same user every call)."""
    merchant_id, store_id, till_id = new_id(), new_id(), new_id()

    def owner(method, *args, **kwargs):
        return call(redemption, method, as_user("owner", merchant_id=merchant_id), *args, **kwargs)

    def till(method, *args, key=None, **kwargs):
        context = as_user("store_user", merchant_id=merchant_id, store_id=store_id, user_id=till_id)
        if key:
            context["idempotency_key"] = key
        return call(redemption, method, context, *args, **kwargs)

    return {"merchant_id": merchant_id, "store_id": store_id, "till_id": till_id, "owner": owner, "till": till}


def issue(shop, **fields):
    return shop["owner"]("issue_voucher", dict({"kind": "stored_value", "currency": "ZAR", "value": 5000}, **fields))


def voucher_row(query, code):
    [row] = query("SELECT id, status, balance, uses, locked_until FROM redemption.vouchers WHERE code = %s", (code,))
    return row


# -- issuing ---------------------------------------------------------------------------------------
def test_an_issued_voucher_is_recorded_with_its_history_and_event(shop, query, emitted):
    voucher = issue(shop, kind="discount_fixed", value=700)
    assert (voucher["value"], voucher["status"], voucher["funding"], voucher["code_masked"]) == (
        700, "active", "merchant", False)
    looked_up = shop["owner"]("get_voucher", voucher["code"])
    assert [(h["from_status"], h["to_status"], h["reason"]) for h in looked_up["history"]] == [(None, "active", "issued")]
    [event] = emitted("redemption", "voucher_issued", voucher_id=voucher["id"])
    assert (event["merchant_id"], event["value"]) == (shop["merchant_id"], 700)


def test_an_issue_retried_under_its_key_issues_once(shop, redemption, as_user, query):
    context = dict(as_user("owner", merchant_id=shop["merchant_id"], user_id=new_id()), idempotency_key="issue-1")
    body = {"kind": "discount_fixed", "currency": "ZAR", "value": 300}
    first = call(redemption, "issue_voucher", context, body)
    assert call(redemption, "issue_voucher", context, body) == first
    assert query("SELECT count(*) AS n FROM redemption.vouchers WHERE merchant_id = %s",
                 (shop["merchant_id"],)) == [{"n": 1}]


def test_a_batch_is_issued_in_chunks_each_durable_on_its_own(shop, query, monkeypatch):
    monkeypatch.setattr(jobs, "CHUNK", 3)
    monkeypatch.setattr(jobs, "STALE_SECONDS", 0)  # the failed job is taken up again at the next tick
    seen_at_failure = []
    record_issue = storage.record_issue

    def fail_the_second_chunk(tx, voucher_ids, actor, reason):
        record_issue(tx, voucher_ids, actor, reason)
        if len(seen_at_failure) == 0 and job_id and \
                query("SELECT issued FROM redemption.issue_jobs WHERE id = %s", (job_id,))[0]["issued"] == 3:
            # what another connection sees now: the first chunk, committed on its own
            seen_at_failure.append(query("SELECT count(*) AS n FROM redemption.vouchers WHERE batch_id = %s",
                                         (job_id,))[0]["n"])
            raise RuntimeError("the database went away mid-batch")
    job_id = None
    monkeypatch.setattr(storage, "record_issue", fail_the_second_chunk)
    job = shop["owner"]("issue_batch", {"kind": "discount_fixed", "currency": "ZAR", "value": 100, "count": 7})
    job_id = job["id"]
    assert (job["status"], job["requested"], job["issued"]) == ("queued", 7, 0)
    done = wait_until(lambda: (lambda j: j if j["status"] == "completed" else None)(
        shop["owner"]("get_issue_job", job_id)), timeout=20)
    assert seen_at_failure == [3]
    assert done["issued"] == 7
    assert query("SELECT count(*) AS n FROM redemption.vouchers WHERE batch_id = %s", (job_id,)) == [{"n": 7}]
    assert query("SELECT count(*) AS n FROM redemption.voucher_history h JOIN redemption.vouchers v "
                 "ON v.id = h.voucher_id WHERE v.batch_id = %s", (job_id,)) == [{"n": 7}]


# -- the till: each presentation -------------------------------------------------------------------
def present(shop, voucher, how):
    """The presentation of ``voucher`` ``how`` a till would make it, and the RPC's image texts."""
    code = voucher["code"]
    if how == "code":
        return {"code": code.lower()}, None
    if how == "pin":
        return {"code": code, "pin": "2468"}, None
    if how == "qr":
        return {"qr_payload": shop["owner"]("qr_payload", code)["payload"]}, None
    if how == "barcode":
        return {"scanned_text": code}, None
    if how == "external_qr":
        partner = "PARTNER-" + uuid.uuid4().hex[:10]
        shop["owner"]("add_external_code", code, {"format": "qr", "value": partner, "issuer": "Partner Co"})
        return {"scanned_text": partner}, None
    return {}, [code]  # a photo: the gateway read the code off it


@pytest.mark.parametrize("how", ["code", "pin", "qr", "barcode", "external_qr", "image"])
def test_each_presentation_validates_then_redeems(shop, query, emitted, how):
    voucher = issue(shop, pin="2468") if how == "pin" else issue(shop)
    presentation, texts = present(shop, voucher, how)
    kwargs = {"image_texts": texts} if texts else {}
    checked = shop["till"]("validate", dict(presentation, amount=1200), **kwargs)
    assert checked["ok"] and checked["method"] == how
    assert checked["would_redeem"] == {"amount": 1200, "points": 0, "points_value": 0, "balance_after": 3800}
    record = shop["till"]("redeem", dict(presentation, amount=1200, channel="pos"), **kwargs)
    assert (record["amount"], record["method"], record["voucher_balance"], record["store_id"]) == (
        1200, how, 3800, shop["store_id"])
    # a till is told the code it was just shown, not one it never saw (a partner's code, a photo)
    assert record["voucher_code_masked"] == (how in ("external_qr", "image"))
    assert voucher_row(query, voucher["code"])["balance"] == 3800
    [event] = emitted("redemption", "voucher_redeemed", redemption_id=record["id"])
    assert (event["amount"], event["method"], event["store_id"]) == (1200, how, shop["store_id"])


def test_a_voucher_is_redeemed_once(shop):
    voucher = issue(shop, kind="discount_fixed", value=500)
    shop["till"]("redeem", {"code": voucher["code"], "channel": "pos"})
    with pytest.raises(Conflict) as raised:
        shop["till"]("redeem", {"code": voucher["code"], "channel": "pos"})
    assert raised.value.code == "voucher_already_redeemed"


# -- failed attempts -------------------------------------------------------------------------------
def counters(query, shop, voucher_id=None):
    rows = query("SELECT scope, failures FROM redemption.failed_attempts WHERE (scope, scope_id) IN "
                 "(('user', %s), ('store', %s), ('voucher', %s))", (shop["till_id"], shop["store_id"], str(voucher_id)))
    return {row["scope"]: row["failures"] for row in rows}


def test_wrong_pins_are_counted_though_each_request_fails(shop, query, emitted):
    voucher = issue(shop, pin="2468")
    for tries in range(1, 4):
        with pytest.raises(ValidationFailed) as raised:
            shop["till"]("redeem", {"code": voucher["code"], "pin": "1111", "channel": "pos"})
        assert raised.value.code == "wrong_pin"
        # committed before the till heard the refusal
        assert counters(query, shop, voucher["id"]) == {"user": tries, "store": tries, "voucher": tries}
    # three failures on one voucher: the next try within a second of the last must wait. The last
    # failure is dated now, so a slow machine (the three tries above took over a second) still tests it
    query("UPDATE redemption.failed_attempts SET last_failure_at = now() WHERE scope = 'voucher' AND scope_id = %s",
          (str(voucher["id"]),))
    with pytest.raises(TooManyRequests):
        shop["till"]("redeem", {"code": voucher["code"], "pin": "2468", "channel": "pos"})
    assert counters(query, shop, voucher["id"]) == {"user": 3, "store": 3, "voucher": 3}  # a wait counts nothing
    assert voucher_row(query, voucher["code"])["balance"] == 5000


def test_a_voucher_guessed_at_too_often_is_locked_and_says_so(shop, query, emitted):
    voucher = issue(shop, pin="2468")
    query("INSERT INTO redemption.failed_attempts (scope, scope_id, merchant_id, window_start, failures, "
          "last_failure_at) VALUES ('voucher', %s, %s, now(), 4, now() - interval '1 hour')",
          (voucher["id"], shop["merchant_id"]))
    with pytest.raises(ValidationFailed):
        shop["till"]("redeem", {"code": voucher["code"], "pin": "1111", "channel": "pos"})
    assert voucher_row(query, voucher["code"])["locked_until"] is not None
    [alert] = emitted("redemption", "redemption_lockout", scope_id=voucher["id"])
    assert alert["scope"] == "voucher"
    with pytest.raises(Locked):
        shop["till"]("redeem", {"code": voucher["code"], "pin": "2468", "channel": "pos"})


def test_unknown_codes_count_against_the_user_and_store(shop, query):
    with pytest.raises(NotFound) as raised:
        shop["till"]("validate", {"code": generate_code()})
    assert raised.value.code == "voucher_not_found"
    assert counters(query, shop) == {"user": 1, "store": 1}


# -- one path answers a repeat -----------------------------------------------------------------------
def test_a_retried_redemption_is_answered_as_the_first_and_moves_money_once(shop, query):
    voucher = issue(shop)
    first = shop["till"]("redeem", {"code": voucher["code"], "amount": 1500, "channel": "pos"}, key="till-3-0017")
    again = shop["till"]("redeem", {"code": voucher["code"], "amount": 1500, "channel": "pos"}, key="till-3-0017")
    assert again == first
    assert voucher_row(query, voucher["code"])["balance"] == 3500
    with pytest.raises(ValidationFailed) as raised:
        shop["till"]("redeem", {"code": voucher["code"], "amount": 999, "channel": "pos"}, key="till-3-0017")
    assert raised.value.code == "idempotency_key_reused"
    assert query("SELECT count(*) AS n FROM redemption.redemptions WHERE voucher_id = %s",
                 (voucher["id"],)) == [{"n": 1}]


def test_a_redemption_is_two_round_trips_to_the_database(shop, query, monkeypatch):
    """The till waits for each: the lock with the claim of its key, then the change with the COMMIT."""
    voucher = issue(shop)
    from plumbing.db import Transaction
    from services.redemption import till
    worker, sent = [], []  # the green thread that redeems; the round trips of every green thread
    redeem, round_trip = till.redeem, Transaction._round_trip

    def watched(*args, **kwargs):
        worker.append(eventlet.getcurrent())
        return redeem(*args, **kwargs)

    def counted(tx, send):
        sent.append(eventlet.getcurrent())
        return round_trip(tx, send)
    monkeypatch.setattr(till, "redeem", watched)
    monkeypatch.setattr(Transaction, "_round_trip", counted)
    record = shop["till"]("redeem", {"code": voucher["code"], "amount": 1500, "channel": "pos"}, key="till-2-0002")
    monkeypatch.undo()
    assert sent.count(worker[0]) == 2
    assert voucher_row(query, voucher["code"])["balance"] == 3500
    assert query("SELECT amount FROM redemption.redemptions WHERE id = %s", (record["id"],)) == [{"amount": 1500}]


def test_copies_of_one_redemption_at_once_redeem_once(shop, query, as_user, make_config, amqp_uri):
    voucher = issue(shop)
    till = dict(as_user("store_user", merchant_id=shop["merchant_id"], store_id=shop["store_id"],
                        user_id=shop["till_id"]), idempotency_key="till-9-0001")

    def copy():
        # real RPC, a proxy per green thread: nameko's entrypoint_hook answers with the first worker
        # of its method to finish, and one copy left running would answer the next test's call
        with ServiceRpcProxy("redemption", make_config("redemption", AMQP_URI=amqp_uri), context_data=till,
                             timeout=20) as proxy:
            return proxy.redeem({"code": voucher["code"], "amount": 1000, "channel": "pos"})
    copies = [eventlet.spawn(copy) for _ in range(6)]
    answers = [copy.wait() for copy in copies]
    assert len({answer["id"] for answer in answers}) == 1
    assert voucher_row(query, voucher["code"])["balance"] == 4000


# -- lifecycle -----------------------------------------------------------------------------------
def test_a_reversal_gives_the_voucher_its_value_back(shop, query, emitted):
    voucher = issue(shop)
    record = shop["till"]("redeem", {"code": voucher["code"], "amount": 2000, "channel": "pos"})
    reversed_ = shop["owner"]("reverse", record["id"], {"reason": "customer changed their mind"})
    assert (reversed_["status"], reversed_["voucher_balance"], reversed_["voucher_status"]) == (
        "reversed", 5000, "active")
    with pytest.raises(Conflict) as raised:
        shop["owner"]("reverse", record["id"], {"reason": "again"})
    assert raised.value.code == "already_reversed"
    [event] = emitted("redemption", "redemption_reversed", redemption_id=record["id"])
    assert (event["amount"], event["reason"]) == (2000, "customer changed their mind")


def test_a_cancelled_voucher_cannot_be_redeemed(shop, query):
    voucher = issue(shop)
    cancelled = shop["owner"]("cancel_voucher", voucher["code"], {"reason": "card lost"})
    assert cancelled["status"] == "cancelled"
    assert [h["to_status"] for h in cancelled["history"]] == ["active", "cancelled"]
    with pytest.raises(Conflict) as raised:
        shop["till"]("redeem", {"code": voucher["code"], "channel": "pos"})
    assert raised.value.code == "voucher_cancelled"


# -- hybrid: points are held before the voucher row is locked -----------------------------------------
@pytest.fixture
def with_stub_campaign(make_config):
    """A redemption container whose campaign service is a stub the test controls."""
    container = ServiceContainer(RedemptionService, make_config("redemption", QR_SIGNING_KEYS=[QR_TEST_KEY]))
    campaign = replace_dependencies(container, "campaign")
    container.start()
    try:
        yield container, campaign
    finally:
        container.stop()


def hybrid_voucher(query, merchant_id, customer_id):
    code = generate_code()
    query("INSERT INTO redemption.vouchers (id, code, merchant_id, funding, customer_id, kind, currency, face_value, "
          "balance, hybrid, point_value, uses_allowed, uses, valid_from, status, created_by) VALUES (%s, %s, %s, "
          "'merchant', %s, 'stored_value', 'ZAR', 3000, 3000, true, 2, 1, 0, now() - interval '1 day', 'active', '{}')",
          (new_id(), code, merchant_id, customer_id))
    return code


def row_is_locked(database_url, code):
    """Whether another transaction holds the voucher's row lock now."""
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM redemption.vouchers WHERE code = %s FOR UPDATE NOWAIT", (code,))
        return False
    except psycopg2.errors.LockNotAvailable:
        return True
    finally:
        conn.close()


def test_points_are_reserved_before_the_voucher_row_is_locked(with_stub_campaign, as_user, query, database_url):
    container, campaign = with_stub_campaign
    merchant_id, store_id, customer_id = new_id(), new_id(), new_id()
    code = hybrid_voucher(query, merchant_id, customer_id)
    asked, go, locked_meanwhile, reservation_id = eventlet.Event(), eventlet.Event(), [], new_id()

    def reserve_points(data):
        asked.send(data)
        go.wait()  # the campaign service is slow today
        return {"reservation_id": reservation_id, "points": data["points"], "expires_at": "2030-01-01T00:00:00+00:00"}
    campaign.reserve_points.side_effect = reserve_points
    context = dict(as_user("store_user", merchant_id=merchant_id, store_id=store_id), idempotency_key="hy-1")
    till = eventlet.spawn(call, container, "redeem", context,
                          {"code": code, "purchase_amount": 5000, "points": 400, "channel": "pos"})
    data = asked.wait()
    locked_meanwhile.append(row_is_locked(database_url, code))
    go.send()
    record = till.wait()
    assert locked_meanwhile == [False]  # no RPC ran inside the row lock
    assert data == {"customer_id": customer_id, "points": 400, "reference": record["id"]}
    assert (record["amount"], record["points"], record["points_value"]) == (3000, 400, 800)
    assert query("SELECT points_reservation_id::text AS held FROM redemption.redemptions WHERE id = %s",
                 (record["id"],)) == [{"held": reservation_id}]
    assert not campaign.release_points.called
    assert call(container, "redeem", context, {"code": code, "purchase_amount": 5000, "points": 400,
                                               "channel": "pos"}) == record  # the repeat asks nothing again
    assert campaign.reserve_points.call_count == 1


def test_points_held_for_a_redemption_that_does_not_happen_go_back(with_stub_campaign, as_user, query):
    container, campaign = with_stub_campaign
    merchant_id, store_id, customer_id = new_id(), new_id(), new_id()
    code, reservation_id = hybrid_voucher(query, merchant_id, customer_id), new_id()

    def reserve_points(data):
        # meanwhile another till empties the voucher
        query("UPDATE redemption.vouchers SET balance = 0, uses = 1, status = 'redeemed' WHERE code = %s", (code,))
        return {"reservation_id": reservation_id, "points": data["points"], "expires_at": "2030-01-01T00:00:00+00:00"}
    campaign.reserve_points.side_effect = reserve_points
    context = dict(as_user("store_user", merchant_id=merchant_id, store_id=store_id), idempotency_key="hy-2")
    with pytest.raises(Conflict) as raised:
        call(container, "redeem", context, {"code": code, "purchase_amount": 5000, "points": 400, "channel": "pos"})
    assert raised.value.code == "voucher_already_redeemed"
    campaign.release_points.assert_called_once_with(reservation_id)  # before the till heard the refusal
    assert query("SELECT count(*) AS n FROM redemption.redemptions r JOIN redemption.vouchers v "
                 "ON v.id = r.voucher_id WHERE v.code = %s", (code,)) == [{"n": 0}]
