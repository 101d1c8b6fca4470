"""The whole system in this test process: every service and the gateway as nameko
containers on this run's database and vhost, driven over real HTTP.

``system`` is shared by the modules that run it as it is and started anew for a module with
its own ``system_config``; tests create their own merchants (see ``onboard``), so they never see
each other's data.
"""
import uuid

import eventlet
import psycopg2
import pytest
import requests
from nameko.runners import ServiceRunner

from gateway.http import ApiServer
from gateway.service import GatewayService
from plumbing.hashing import PASSWORDS
from tests.conftest import component_database_url, service_classes

PASSWORD = "correct horse battery staple"
_admin_hash = {}


class Api:
    """A small HTTP client for the gateway that signs in as anyone."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.http = requests.Session()

    def url(self, path):
        return self.base_url + path

    def request(self, method, path, token=None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = "Bearer " + token
        return self.http.request(method, self.url(path), headers=headers, timeout=30, **kwargs)

    def get(self, path, token=None, **kwargs):
        return self.request("GET", path, token, **kwargs)

    def post(self, path, token=None, **kwargs):
        return self.request("POST", path, token, **kwargs)

    def put(self, path, token=None, **kwargs):
        return self.request("PUT", path, token, **kwargs)

    def login(self, username, password=PASSWORD):
        response = self.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


def ok(response, status=200):
    assert response.status_code == status, "%s %s -> %s %s" % (
        response.request.method, response.request.url, response.status_code, response.text)
    return response.json() if response.content else None


def wait_for(fetch, timeout=10.0, interval=0.05):
    """Poll ``fetch()`` until it returns something truthy (events take a moment)."""
    deadline = eventlet.hubs.get_hub().clock() + timeout
    while True:
        value = fetch()
        if value:
            return value
        if eventlet.hubs.get_hub().clock() > deadline:
            raise AssertionError("nothing arrived within %.1fs" % timeout)
        eventlet.sleep(interval)


@pytest.fixture(scope="module")
def system_config():
    """``{"settlement": {...}}``: config overrides per service; a module overrides this fixture."""
    return {}


def start_system(make_config, jwt_keys, system_config):
    """Every service and the gateway, started; returns the ``Api`` (its ``runners`` by name)."""
    # the gateway first: every process asks it for recent revocations as it starts
    gateway_config = make_config("gateway", WEB_SERVER_ADDRESS="127.0.0.1:0", JWT_PRIVATE_KEY=jwt_keys[0],
                                 ACCESS_TOKEN_SECONDS=3600, REVOCATIONS_CATCH_UP=True,
                                 **system_config.get("gateway", {}))
    gateway_runner = ServiceRunner(gateway_config)
    gateway_runner.add_service(GatewayService)
    runners = [gateway_runner]
    for service_cls in service_classes():
        service_runner = ServiceRunner(make_config(service_cls.name, REVOCATIONS_CATCH_UP=True,
                                                   **system_config.get(service_cls.name, {})))
        service_runner.add_service(service_cls)
        runners.append(service_runner)
    # the event topology was declared by the admin with the run's vhost (tests/conftest.py);
    # each component connects as its own broker user
    for each in runners:
        each.start()
    container = next(iter(gateway_runner.containers))
    port = container.shared_extensions[ApiServer]._sock.getsockname()[1]
    api = Api("http://127.0.0.1:%d" % port)
    api.runners = {next(iter(each.service_names)): each for each in runners}  # fault tests stop and watch them
    return api


def stop_system(api):
    for each in reversed(list(api.runners.values())):
        each.stop()


class SharedSystem:
    """One system for every module that runs it as it is (no ``system_config`` of its own):
    starting one costs seconds, and those modules only create their own merchants. Only one
    system may run on the vhost at a time (two would take each other's messages), so a module
    with its own system, or its own containers, stops the shared one first; the next module
    that wants it starts it again."""

    def __init__(self, make_config, jwt_keys):
        self.make_config, self.jwt_keys, self.api = make_config, jwt_keys, None

    def get(self):
        if self.api is None:
            self.api = start_system(self.make_config, self.jwt_keys, {})
        return self.api

    def stop(self):
        if self.api is not None:
            api, self.api = self.api, None
            stop_system(api)


_SHARED = []  # this process's shared system, once a module asked for it


@pytest.fixture(scope="session")
def shared_system(make_config, database_url, jwt_keys):
    shared = SharedSystem(make_config, jwt_keys)
    _SHARED.append(shared)
    yield shared
    _SHARED.remove(shared)
    shared.stop()


# a module that overrides one of these fixtures needs a system of its own
_SYSTEM_INPUTS = {"system", "system_config", "make_config", "database_url", "amqp_uri", "broker_users", "jwt_keys"}


def _uses_shared_system(module_node):
    """A module shares the system when some test of it uses ``system`` and it overrides none of
    the fixtures the system is made from."""
    if _SYSTEM_INPUTS & set(vars(module_node.module)):
        return False
    return any("system" in getattr(item, "fixturenames", ()) for item in module_node.session.items
               if item.module is module_node.module)


def pytest_collection_modifyitems(session, config, items):
    """The modules that share the system run last, one after another, so it starts once."""
    shared = {}
    for item in items:
        module = item.getparent(pytest.Module)
        if module is not None and module not in shared:
            shared[module] = _uses_shared_system(module)
    items.sort(key=lambda item: shared.get(item.getparent(pytest.Module), False))


@pytest.fixture(scope="module", autouse=True)
def _one_system_at_a_time(request):
    if not _uses_shared_system(request.node):
        for shared in _SHARED:
            shared.stop()


@pytest.fixture(scope="module")
def system(request, make_config, database_url, jwt_keys, system_config):
    if _uses_shared_system(request.node):
        yield request.getfixturevalue("shared_system").get()
        return
    api = start_system(make_config, jwt_keys, system_config)
    yield api
    stop_system(api)


def create_platform_user(database_url, role):
    """A platform user (admin, platform_finance, ...), written directly in the gateway's tables
    as the seed does; returns its username (password ``PASSWORD``)."""
    username = "%s-%s" % (role.replace("_", "-"), uuid.uuid4().hex[:8])
    if "hash" not in _admin_hash:
        _admin_hash["hash"] = PASSWORDS.hash(PASSWORD)
    conn = psycopg2.connect(component_database_url(database_url, "gateway"))
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO gateway.users (id, username, role, password_hash, created_by) "
                    "VALUES (%s, %s, %s, %s, '{}')", (str(uuid.uuid4()), username, role, _admin_hash["hash"]))
    conn.close()
    return username


@pytest.fixture(scope="module")
def admin_token(system, database_url):
    """A platform admin."""
    return system.login(create_platform_user(database_url, "admin"))


@pytest.fixture(scope="module")
def platform_login(system, database_url):
    """``platform_login("platform_finance")``: a new platform user of that role, signed in."""
    def login(role):
        return system.login(create_platform_user(database_url, role))
    return login


@pytest.fixture(scope="module")
def onboard(system, admin_token):
    """``onboard()``: a new merchant with two stores and one user of each role, signed in."""
    def make(currency="ZAR", stores=("Main Street Store", "Canal Walk Kiosk"), contact_email=None):
        suffix = uuid.uuid4().hex[:8]
        body = {"name": "Merchant " + suffix, "currency": currency, "stores": [{"name": name} for name in stores]}
        if contact_email:
            body["contact_email"] = contact_email
        merchant = ok(system.post("/api/v1/merchants", admin_token, json=body), 201)
        store_ids = {store["name"]: store["id"] for store in merchant["stores"]}
        first_store = store_ids[stores[0]]
        users = {}
        for role in ("owner", "store_user", "support_agent", "finance"):
            body = {"username": "%s-%s" % (role.replace("_", "-"), suffix), "password": PASSWORD,
                    "role": role}
            if role == "store_user":
                body["store_id"] = first_store
            ok(system.post("/api/v1/merchants/%s/users" % merchant["id"], admin_token, json=body), 201)
            users[role] = system.login(body["username"])
        return {"merchant": merchant, "stores": store_ids, "store_id": first_store, "tokens": users,
                "admin": admin_token}
    return make


def active_campaign(system, token, **body):
    """A campaign created and activated (campaigns start as drafts; vouchers come only from active ones)."""
    campaign = ok(system.post("/api/v1/campaigns", token, json=dict({"currency": "ZAR"}, **body)), 201)
    return ok(system.post("/api/v1/campaigns/%s/activation" % campaign["id"], token, json={}))


@pytest.fixture
def db_query(database_url):
    def query(sql, params=()):
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()
    return query
