"""End to end: every component as its own process, started as ``make run`` starts them
(migrations through the CLI, a broker user per component and the topology, the Procfile under
devtools.supervise, the demo seed), on a database, vhost, broker users and ports of this test's own; the
chain is driven over HTTP."""
import re
import socket
import time
import uuid

import pytest
import requests

from devtools import run
from devtools.servers import create_vhost, delete_broker_users, delete_vhost
from plumbing import config as cfg
from plumbing.migrations import drop_database

pytestmark = pytest.mark.e2e
PASSWORD = "e2e-" + uuid.uuid4().hex[:12]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, run_id):
    name = "vowtest_%s_e2e" % run_id
    base_amqp = cfg.env("AMQP_URI", cfg.DEFAULT_AMQP_URI)
    vhost = "vowtest-%s-e2e" % run_id
    create_vhost(base_amqp, vhost)
    overrides = {"DATABASE_URL": cfg.with_database(cfg.admin_database_url(), name),
                 "AMQP_URI": cfg.with_vhost(base_amqp, vhost), "GATEWAY_PORT": str(free_port()),
                 "LOG_FORMAT": "json", "LOG_WORKERS": "1", "HEALTH_PORT": "",
                 # broker users are global: this run's own (passwords under .local/keys, as make run)
                 "BROKER_USER_PREFIX": "vowtest-%s-e2e-" % run_id, "BROKER_USER_PER_SERVICE": "1"}
    users = list(cfg.broker_users(overrides).values())
    overrides.update({component.upper() + "_HEALTH_PORT": str(free_port()) for component in cfg.HEALTH_PORTS})
    # make run's development mail server, on a port and in a folder of this test's own
    mail_dir = tmp_path_factory.mktemp("mail")
    overrides.update({"SMTP_HOST": "", "SMTP_PORT": str(free_port()), "DEV_MAIL_DIR": str(mail_dir),
                      "INBOUND_SMTP_PORT": str(free_port())})
    log_path = tmp_path_factory.mktemp("e2e") / "processes.log"
    with open(log_path, "w") as log:
        running = None
        try:
            running = run.Stack(PASSWORD, overrides, stdout=log, timeout=120)
            yield {"base": running.url, "env": running.env, "log": log_path, "mail": mail_dir, "stack": running}
        finally:
            if running is not None:
                running.stop()
            delete_broker_users(base_amqp, users)
            for user in users:
                cfg.broker_password_file(user).unlink(missing_ok=True)
            delete_vhost(base_amqp, vhost)
            drop_database(cfg.admin_database_url(), name)


def login(base, username):
    response = requests.post(base + "/api/v1/auth/token", json={"username": username, "password": PASSWORD},
                             timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": "Bearer " + response.json()["access_token"]}


def eventually(fetch, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_the_chain_across_real_processes(stack):
    base = stack["base"] + "/api/v1"
    owner, till, finance, agent = (login(stack["base"], user) for user in
                                   ("demo-owner", "demo-store", "demo-finance", "demo-agent"))

    # the platform puts its money behind the voucher (a merchant's own voucher is owed by nobody)
    platform_finance = login(stack["base"], "demo-platform-finance")
    merchant_id = requests.get(base + "/merchants", headers=owner, timeout=10).json()["items"][0]["id"]
    agreement = requests.post(base + "/funding-agreements", headers=platform_finance, timeout=10, json={
        "merchant_id": merchant_id, "funder_kind": "platform", "currency": "ZAR", "budget": 100000,
        "max_voucher_value": 10000})
    assert agreement.status_code == 201, agreement.text
    campaign = requests.post(base + "/campaigns", headers=owner, timeout=10, json={
        "name": "Platform week", "currency": "ZAR", "funding_agreement_id": agreement.json()["id"]})
    assert campaign.status_code == 201, campaign.text
    activated = requests.post(base + "/campaigns/%s/activation" % campaign.json()["id"], headers=owner, timeout=10,
                              json={})
    assert activated.status_code == 200, activated.text
    voucher = requests.post(base + "/vouchers", json={"kind": "discount_fixed", "currency": "ZAR", "value": 4200,
                                                      "campaign_id": campaign.json()["id"]},
                            headers=owner, timeout=10)
    assert voucher.status_code == 201, voucher.text
    code = voucher.json()["display_code"]

    correlation_id = "e2e-" + uuid.uuid4().hex
    redeemed = requests.post(base + "/redemptions", json={"code": code, "channel": "pos", "receipt_remarks": "e2e"},
                             headers=dict(till, **{"Idempotency-Key": uuid.uuid4().hex,
                                                   "X-Request-ID": correlation_id}), timeout=10)
    assert redeemed.status_code == 201, redeemed.text
    assert redeemed.headers["X-Request-ID"] == correlation_id
    redemption = redeemed.json()
    again = requests.post(base + "/redemptions", json={"code": code, "channel": "pos"}, headers=till, timeout=10)
    assert again.status_code == 409 and again.json()["error"]["code"] == "voucher_already_redeemed"

    entries = eventually(lambda: [e for e in requests.get(base + "/settlements/entries", headers=finance,
                                                          timeout=10).json()["items"]
                                  if e["redemption_id"] == redemption["id"]])
    assert entries and entries[0]["amount"] == 4200

    batch = requests.post(base + "/settlements/batches", json={"period": redemption["created_at"][:7]},
                          headers=finance, timeout=10)
    assert batch.status_code == 201, batch.text
    batch = batch.json()
    assert batch["status"] == "closed" and batch["exception"]["kind"] == "payout_account_unconfirmed"

    tickets = eventually(lambda: requests.get(base + "/support/tickets?priority=critical", headers=agent,
                                              timeout=10).json()["items"])
    assert tickets and tickets[0]["refs"]["batch_reference"] == batch["reference"]
    assert tickets[0]["refs"]["amount"] == 4200 and tickets[0]["priority"] == "critical"

    # finance hears of the closed batch and of the critical ticket (the routing table), in either order
    told = eventually(lambda: [m for m in requests.get(base + "/notifications", headers=finance, timeout=10)
                               .json()["items"] if tickets[0]["reference"] in m["body"]])
    assert told and told[0]["kind"] == "ticket_created"

    # one correlation id followed the redemption through the gateway, the service and the ledger
    def carried_by(component):  # log lines reach the file through the supervisor's pipes, a moment later
        return any(("%s.1" % component) in line.split("|", 1)[0]
                   for line in stack["log"].read_text().splitlines() if correlation_id in line)
    for component in ("gateway", "redemption", "settlement"):
        assert eventually(lambda: carried_by(component)), component

    # seeding the demo wallet told the merchant's registered contact, through make run's mail server
    notices = eventually(lambda: list(stack["mail"].glob("*.eml")))
    assert notices and "To: owner@demo.vowrewards.example" in notices[0].read_text()

    env = stack["env"]
    metrics = requests.get("http://127.0.0.1:%s/metrics" % env["REDEMPTION_HEALTH_PORT"], timeout=10).text
    assert 'vowrewards_redemptions_total{channel="pos",method="code",service="redemption"}' in metrics
    # what the process started with is out of the collector's full passes (plumbing.runner)
    frozen = re.search(r'^vowrewards_gc_frozen_objects\{service="redemption"\} (\S+)$', metrics, re.M)
    assert frozen and float(frozen.group(1)) > 10000
    ready = requests.get("http://127.0.0.1:%s/readyz" % env["SETTLEMENT_HEALTH_PORT"], timeout=10)
    assert ready.json() == {"status": "ready", "service": "settlement", "checks": {"database": "ok", "broker": "ok"}}


def test_each_process_is_its_own_broker_user_and_health_is_on_loopback_only(stack):
    env = stack["env"]
    assert env.get("BROKER_USER_PER_SERVICE") == "1", "make run fell back to one shared broker user"
    log = stack["log"].read_text()
    for component in cfg.ALL_COMPONENTS:
        user = cfg.broker_user(component, env)
        assert any("broker: connecting as %s" % user in line for line in log.splitlines()
                   if ("%s.1" % component) in line.split("|", 1)[0]), component
    # bound to 127.0.0.1 only: another local address (all of 127/8 reaches this host on Linux,
    # as any interface's address would reach a socket bound to 0.0.0.0) is refused
    for component in cfg.ALL_COMPONENTS:
        port = int(env[component.upper() + "_HEALTH_PORT"])
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", port), timeout=2).close()


def test_a_service_killed_mid_load_is_started_again_and_nothing_is_lost_or_doubled(stack):
    """make faults' short version: kill -9 of redemption while tills redeem; the supervisor starts
    it again, the other processes go on, and every redemption answered 201 exists once with one
    ledger entry."""
    import os
    import signal

    from devtools.faults import Load, check, recovered
    base = stack["base"] + "/api/v1"
    owner, till = (login(stack["base"], user)["Authorization"][7:] for user in ("demo-owner", "demo-store"))
    supervisor = stack["stack"].processes
    others = {name: supervisor.pid(name) for name in ("gateway", "settlement")}
    load = Load(base, owner, till, threads=3)
    eventually(lambda: len(load.outcomes) >= 5)
    os.kill(supervisor.pid("redemption"), signal.SIGKILL)
    assert recovered(base, owner, till, time.monotonic(), seconds=60) is not None
    eventually(lambda: supervisor.restarts["redemption"] == 1)
    outcomes = load.stop()
    assert {name: supervisor.pid(name) for name in others} == others  # nobody else restarted
    assert sum(1 for status, _ in outcomes if status == 201) >= 5
    assert check(stack["env"]["DATABASE_URL"], outcomes) == (0, 0, 0, 0)
