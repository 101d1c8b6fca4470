"""What a reviewer checks in the Kubernetes deployment, over what kustomize generates.

The sources under deploy/k8s are checked as files (every kustomization's references exist,
no Secret is committed outside the dev overlay, the broker users are the code's); the
invariants (probes, resources, securityContext, own Secrets only, a PDB, HPA and
NetworkPolicy for every Deployment, every component scraped) are checked on the rendered
overlays (tests/unit/k8s_render.py; skipped in one line without kubectl or kustomize).
Schema validation and checkov: test_k8s_validate.py; dashboards and alerts:
test_k8s_monitoring.py; the image: test_k8s_image.py.
"""
import re
from pathlib import Path

import pytest
import yaml

from tests.unit.k8s_render import (
    COMPONENTS, K8S, OVERLAYS, REPO, by_name, component_of, configmap, containers, env_of,
    of_kind, pod_spec, rendered, secret_refs, unhashed)

MODULES = {c: ("gateway" if c == "gateway" else "services." + c) for c in COMPONENTS}
HEALTH_PORT = 9100
DEPRECATED_KUSTOMIZE_FIELDS = ("bases", "patchesStrategicMerge", "patchesJson6902", "commonLabels", "vars")


def load_docs(path):
    with open(path) as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def kustomizations():
    return sorted(K8S.rglob("kustomization.yaml"))


def local_refs(kustomization):
    k, here = load_docs(kustomization)[0], kustomization.parent
    refs = [("resource", here / r) for r in k.get("resources", [])]
    refs += [("component", here / c) for c in k.get("components", [])]
    refs += [("patch", here / p["path"]) for p in k.get("patches", []) if "path" in p]
    for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        refs += [("generated-file", here / f.split("=", 1)[-1]) for f in gen.get("files", []) + gen.get("envs", [])]
    return refs


# --- the sources ------------------------------------------------------------------------

@pytest.mark.parametrize("kust", kustomizations(), ids=lambda p: str(p.parent.relative_to(K8S)))
def test_kustomization_references_exist(kust):
    k = load_docs(kust)[0]
    assert not [f for f in DEPRECATED_KUSTOMIZE_FIELDS if f in k], "%s uses deprecated fields" % kust
    ignored = (kust.parent / ".gitignore").read_text().split() if (kust.parent / ".gitignore").is_file() else []
    for kind, path in local_refs(kust):
        if kind == "generated-file" and any(part + "/" in ignored for part in path.relative_to(kust.parent).parts):
            continue  # written by a documented script (the dev JWT keys), never committed
        assert path.exists(), "%s: %s %s does not exist" % (kust, kind, path)
        if kind == "component":
            assert load_docs(path / "kustomization.yaml")[0]["kind"] == "Component", path


def test_every_file_is_used_by_some_kustomization():
    used = {p.resolve() for k in kustomizations() for p in [k] + [path for _, path in local_refs(k)]}
    files = [p for p in K8S.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()]
    orphans = [str(p.relative_to(K8S)) for p in files if p.resolve() not in used and "jwt-keys" not in p.parts]
    assert not orphans, "files no kustomization uses: %s" % orphans


def test_no_secret_is_committed_outside_the_dev_overlay():
    for path in K8S.rglob("*.yaml"):
        if "dev" in path.relative_to(K8S).parts:
            continue
        for doc in load_docs(path):
            assert doc.get("kind") != "Secret", "%s commits a Secret" % path
            assert "secretGenerator" not in doc, "%s generates Secrets" % path


def test_one_template_makes_every_component():
    """Each component directory is its values, the template, and small patches: no copies."""
    for c in COMPONENTS:
        k = load_docs(K8S / "base" / c / "kustomization.yaml")[0]
        assert k["components"] == ["../service"], c
        (values,) = load_docs(K8S / "base" / c / "values.yaml")
        assert values["metadata"]["name"] == c and values["data"]["module"] == MODULES[c]
        assert values["metadata"]["annotations"]["config.kubernetes.io/local-config"] == "true"
        lines = sum(len((K8S / "base" / c / p["path"]).read_text().splitlines()) for p in k.get("patches", []))
        assert lines < 80, "%s patches %d lines: move what every component shares into the template" % (c, lines)


def test_broker_users_and_permissions_are_the_codes():
    """One User, Permission and TopicPermission per component (messaging-topology operator):
    exactly what plumbing/broker.py gives (and make run grants), importing the Deployment's Secret."""
    from plumbing.broker import permissions, topic_permissions
    docs = load_docs(K8S / "components" / "data-services" / "broker-users.yaml")
    (rmq,) = load_docs(K8S / "components" / "data-services" / "rabbitmq.yaml")
    users, grants, topics = ({component_of(d): d for d in of_kind(docs, kind)}
                             for kind in ("User", "Permission", "TopicPermission"))
    assert set(users) == set(grants) == set(topics) == set(COMPONENTS)
    for c in COMPONENTS:
        user, grant, topic = users[c]["spec"], grants[c]["spec"], topics[c]["spec"]
        assert user["importCredentialsSecret"]["name"] == "vowrewards-amqp-" + c
        assert not user.get("tags"), "%s's broker user must have no management tags" % c
        assert user["rabbitmqClusterReference"]["name"] == rmq["metadata"]["name"]
        assert grant["userReference"]["name"] == topic["userReference"]["name"] == users[c]["metadata"]["name"]
        assert grant["vhost"] == topic["vhost"] == "/"
        assert grant["permissions"] == permissions(c), c
        assert [topic["permissions"]] == topic_permissions(c), c


def test_deployed_modules_exist_in_the_repository():
    for module in list(MODULES.values()) + ["plumbing.migrate"]:
        path = REPO / module.replace(".", "/")
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), module


# --- every overlay, rendered -------------------------------------------------------------

@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request):
    return request.param, rendered(request.param)


INBOUND = "vowrewards-notification-inbound"  # notification's support mail server, beside its service


def deployments(docs):
    """component -> its Deployment made from the template (the support mail server: INBOUND)."""
    found = {component_of(d): d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] != INBOUND}
    assert set(found) == set(COMPONENTS)
    return found


def test_namespaced_images_pinned_and_nothing_removed(overlay):
    _, docs = overlay
    (namespace,) = of_kind(docs, "Namespace")
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace["metadata"]["name"], doc["metadata"]["name"]
            assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "vowrewards", doc["metadata"]["name"]
    for workload in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        for container in containers(workload):
            image = container["image"]
            assert re.search(r":[\w.-]+$|@sha256:[0-9a-f]{64}$", image) and not image.endswith(":latest"), image


def test_each_component_has_its_objects(overlay):
    _, docs = overlay
    for c, dep in deployments(docs).items():
        name = "vowrewards-" + c
        assert dep["metadata"]["name"] == name and "replicas" not in dep["spec"], "%s: the HPA owns replicas" % name
        selector = dep["spec"]["selector"]["matchLabels"]
        assert selector == {"app.kubernetes.io/name": name, "app.kubernetes.io/component": c}
        assert by_name(docs, "Service")[name]["spec"]["selector"] == selector
        assert by_name(docs, "PodDisruptionBudget")[name]["spec"]["selector"]["matchLabels"] == selector
        assert by_name(docs, "PodDisruptionBudget")[name]["spec"]["maxUnavailable"] == 1
        hpa = by_name(docs, "HorizontalPodAutoscaler")[name]["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert any(m["resource"]["name"] == "cpu" for m in hpa["metrics"])
        spec = pod_spec(dep)
        assert by_name(docs, "ServiceAccount")[spec["serviceAccountName"]]["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == name and spec["automountServiceAccountToken"] is False
        for constraint in spec["topologySpreadConstraints"]:
            assert constraint["labelSelector"]["matchLabels"] == selector
        assert {t["topologyKey"] for t in spec["topologySpreadConstraints"]} == {
            "kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        ports = {p["name"]: p["port"] for p in by_name(docs, "Service")[name]["spec"]["ports"]}
        assert ports == ({"health": HEALTH_PORT, "http": 8000} if c == "gateway" else {"health": HEALTH_PORT})


def test_every_container_is_hardened_and_sized(overlay):
    _, docs = overlay
    for workload in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        name, spec = workload["metadata"]["name"], pod_spec(workload)
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] > 0, name
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["enableServiceLinks"] is False and spec["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in containers(workload):
            where, sc = "%s/%s" % (name, container["name"]), container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), where
            assert not sc.get("privileged"), where
            for section in ("requests", "limits"):
                assert set(container["resources"][section]) >= {"cpu", "memory"}, "%s: %s" % (where, section)
            assert "command" not in container, "%s overrides the image ENTRYPOINT" % where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], "%s: /tmp is not an emptyDir" % where
            for mount in container.get("volumeMounts", []):
                # support's attachments are data it writes, on their own claim
                data = volumes[mount["name"]].get("persistentVolumeClaim", {}).get("claimName") == \
                    "vowrewards-support-attachments" and where == "vowrewards-support/app"
                assert mount["mountPath"] == "/tmp" or mount.get("readOnly") is True or data, where


def test_every_app_is_probed_on_its_health_port_and_stops_gently(overlay):
    _, docs = overlay
    for c, dep in list(deployments(docs).items()) + [("notification-inbound", by_name(docs, "Deployment")[INBOUND])]:
        (app,) = pod_spec(dep)["containers"]
        assert {p["name"]: p["containerPort"] for p in app["ports"]}["health"] == HEALTH_PORT
        for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            assert app[probe]["httpGet"] == {"path": path, "port": "health"}, "%s %s" % (c, probe)
        assert app["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        assert 20 <= pod_spec(dep)["terminationGracePeriodSeconds"] <= 60
        # set explicitly: the default is loopback; the NetworkPolicy admits only Prometheus
        assert env_of(app)["HEALTH_ADDRESS"]["value"] == "0.0.0.0", c


def test_each_component_migrates_first_and_uses_only_its_own_credentials(overlay):
    name, docs = overlay
    for c, dep in deployments(docs).items():
        spec = pod_spec(dep)
        (app,), (migrate,) = spec["containers"], spec["initContainers"]
        assert app["args"] == [MODULES[c]] and migrate["args"] == ["plumbing.migrate", c]
        assert migrate["image"] == app["image"]
        prefix = c.upper()
        assert env_of(app)[prefix + "_AMQP_URI"]["value"].startswith("amqp://$(AMQP_USERNAME):$(AMQP_PASSWORD)@")
        assert "AMQP_URI" not in env_of(app), "AMQP_URI is the broker admin's, the topology Job's"
        assert not [e for e in env_of(migrate) if "AMQP" in e], "%s: the migration needs no broker" % c
        for container in (app, migrate):
            assert env_of(container)[prefix + "_DATABASE_URL"]["value"].startswith("postgresql://$(DB_USER):$(DB_PASSWORD)@")
        secrets = secret_refs(dep)
        assert {s for s in secrets if s.startswith("vowrewards-db-")} == {"vowrewards-db-" + c}
        assert {s for s in secrets if s.startswith("vowrewards-amqp") or s.endswith("-default-user")} == {
            "vowrewards-amqp-" + c}
        assert ("vowrewards-jwt-private" in secrets) == (c == "gateway"), "only the gateway signs tokens"
        assert ("vowrewards-qr-signing" in secrets) == (c == "redemption"), "only redemption signs QR codes"
        assert ("vowrewards-smtp" in secrets) == (c == "notification")
        mounts = {m["name"]: m["mountPath"] for m in app["volumeMounts"]}
        public = [v["name"] for v in spec["volumes"] if unhashed(v.get("secret", {}).get("secretName", "")) == "vowrewards-jwt-public"]
        assert configmap(docs, "vowrewards-config")["JWT_PUBLIC_KEY_FILE"].startswith(mounts[public[0]] + "/")
        for container in spec["initContainers"]:
            # notification's encrypts the webhook secrets stored before they were encrypted
            mounts = {m["mountPath"] for m in container["volumeMounts"]} - {"/tmp"}
            assert mounts == ({"/etc/vowrewards/webhook-secret-keys"} if c == "notification" else set()), (
                "%s: the migration sees no keys but what it needs" % c)
        assert ("vowrewards-webhook-secret-keys" in secrets) == (c == "notification")
        assert ("vowrewards-notification-reply" in secrets) == (c == "notification")
        # Kubernetes expands $(VAR) only from variables defined before it
        for container in (app, migrate):
            defined = set()
            for source in container["envFrom"]:
                defined |= set(configmap(docs, unhashed(source["configMapRef"]["name"])))
            for var in container["env"]:
                for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", var.get("value", "")):
                    assert ref in defined, "%s/%s: %s uses $(%s) before it is defined" % (c, container["name"], var["name"], ref)
                defined.add(var["name"])
    gateway = env_of(pod_spec(deployments(docs)["gateway"])["containers"][0])
    assert gateway["JWT_PRIVATE_KEY_FILE"]["value"].startswith("/etc/vowrewards/jwt-private/")
    redemption = env_of(pod_spec(deployments(docs)["redemption"])["containers"][0])
    assert redemption["QR_SIGNING_KEY_FILE"]["value"].startswith("/etc/vowrewards/qr-signing/")
    notification = env_of(pod_spec(deployments(docs)["notification"])["containers"][0])
    assert notification["WEBHOOK_SECRET_KEYS_FILE"]["value"].startswith("/etc/vowrewards/webhook-secret-keys/")


def test_the_support_mail_server_runs_beside_notification(overlay):
    """notification-inbound (aiosmtpd, its own process as in the Procfile): SMTP exposed by its Service,
    notification's database role and reply secret, no broker, no token keys, no migrations of its own."""
    _, docs = overlay
    dep = by_name(docs, "Deployment")[INBOUND]
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": INBOUND, "app.kubernetes.io/component": "notification"}
    assert "replicas" not in dep["spec"] and dep["spec"]["template"]["metadata"]["labels"] == dict(
        selector, **{"app.kubernetes.io/part-of": "vowrewards"})
    spec = pod_spec(dep)
    (app,) = spec["containers"]
    assert app["args"] == ["services.notification.inbound"] and not spec.get("initContainers")
    assert spec["serviceAccountName"] == INBOUND and spec["automountServiceAccountToken"] is False
    assert by_name(docs, "ServiceAccount")[INBOUND]["automountServiceAccountToken"] is False
    assert {p["name"]: p["containerPort"] for p in app["ports"]} == {"smtp": 2525, "health": HEALTH_PORT}
    env = env_of(app)
    assert (env["INBOUND_SMTP_ADDRESS"]["value"], env["INBOUND_SMTP_PORT"]["value"]) == ("0.0.0.0", "2525")
    assert env["NOTIFICATION_DATABASE_URL"]["value"].startswith("postgresql://$(DB_USER):$(DB_PASSWORD)@")
    assert not [e for e in env if "AMQP" in e], "it publishes through notification's outbox, not the broker"
    assert secret_refs(dep) == {"vowrewards-db-notification", "vowrewards-notification-reply"}
    mounts = {m["name"]: m["mountPath"] for m in app["volumeMounts"]}
    assert env["NOTIFICATION_REPLY_SECRET_FILE"]["value"].startswith(mounts["notification-reply"] + "/")
    settings = [unhashed(source["configMapRef"]["name"]) for source in app["envFrom"]]
    assert settings == ["vowrewards-config", "vowrewards-notification"]
    assert configmap(docs, "vowrewards-notification")["INBOUND_MAIL_DOMAIN"]
    defined = set().union(*(set(configmap(docs, name)) for name in settings))
    for var in app["env"]:
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", var.get("value", "")):
            assert ref in defined, "%s uses $(%s) before it is defined" % (var["name"], ref)
        defined.add(var["name"])
    # its Service exposes SMTP (25 -> the container's 2525) and the health port for Prometheus
    service = by_name(docs, "Service")[INBOUND]["spec"]
    assert service["selector"] == selector
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["ports"]} == {
        "smtp": (25, "smtp"), "health": (HEALTH_PORT, "health")}
    assert by_name(docs, "PodDisruptionBudget")[INBOUND]["spec"]["selector"]["matchLabels"] == selector
    hpa = by_name(docs, "HorizontalPodAutoscaler")[INBOUND]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": INBOUND}


def test_settings(overlay):
    _, docs = overlay
    config = configmap(docs, "vowrewards-config")
    expected = {"HEALTH_PORT": str(HEALTH_PORT), "MIGRATE_ON_START": "0", "DB_ROLE_PER_SERVICE": "1",
                "BROKER_USER_PER_SERVICE": "1", "BROKER_USER_PREFIX": "vow_", "LOG_FORMAT": "json"}
    assert {k: config[k] for k in expected} == expected
    # the topology Job and every component read it from here: production's queues are quorum
    assert config.get("AMQP_QUEUE_TYPE", "classic") == ("classic" if overlay[0] == "dev" else "quorum")
    for key, value in config.items():
        assert not re.search(r"(?i)password|secret|private_key\b", key + value), "secret-looking setting " + key
    assert configmap(docs, "vowrewards-gateway")["GATEWAY_PORT"] == "8000"
    assert set(configmap(docs, "vowrewards-settlement")) >= {"PAYOUT_COOLING_OFF_HOURS", "PAYOUT_CODE_MINUTES"}
    assert set(configmap(docs, "vowrewards-notification")) >= {"SMTP_HOST", "SMTP_PORT", "SMTP_STARTTLS"}


def test_support_keeps_attachments_on_a_claim_or_in_s3(overlay):
    name, docs = overlay
    settings = configmap(docs, "vowrewards-support")
    app = pod_spec(deployments(docs)["support"])["containers"][0]
    mounts = {m["mountPath"]: m["name"] for m in app["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(deployments(docs)["support"])["volumes"]}
    claims = {c["metadata"]["name"]: c for c in of_kind(docs, "PersistentVolumeClaim")}
    keys = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in app["env"] if e["name"].startswith("SUPPORT_ATTACHMENTS")}
    assert {k["name"] for k in keys.values()} == {"vowrewards-support-s3"} and all(k["optional"] for k in keys.values())
    if name == "dev":  # the filesystem backend on a volume that outlives the pod
        assert settings["SUPPORT_ATTACHMENTS_BACKEND"] == "filesystem"
        claim = volumes[mounts[settings["SUPPORT_ATTACHMENTS_DIR"]]]["persistentVolumeClaim"]["claimName"]
        assert claims[claim]["spec"]["accessModes"] == ["ReadWriteOnce"]  # one replica, one node
    else:  # S3: every replica in every zone, so no claim
        assert settings["SUPPORT_ATTACHMENTS_BACKEND"] == "s3" and settings["SUPPORT_ATTACHMENTS_S3_BUCKET"]
        assert settings["SUPPORT_ATTACHMENTS_DIR"] not in mounts and not claims


def test_the_topology_job_alone_holds_the_broker_admin(overlay):
    _, docs = overlay
    (job,) = of_kind(docs, "Job")
    (container,) = pod_spec(job)["containers"]
    assert container["args"] == ["plumbing.migrate", "--topology"]
    assert pod_spec(job)["restartPolicy"] == "OnFailure" and job["spec"]["ttlSecondsAfterFinished"]
    assert env_of(container)["AMQP_URI"]["value"].startswith("amqp://$(AMQP_USERNAME):$(AMQP_PASSWORD)@")
    (rmq,) = of_kind(docs, "RabbitmqCluster")
    assert secret_refs(job) == {rmq["metadata"]["name"] + "-default-user"}  # data-services swapped it in
    for doc in docs:
        if doc is not job:
            assert not {s for s in secret_refs(doc) if s == "vowrewards-amqp" or s.endswith("-default-user")}, (
                "%s %s reads the broker admin" % (doc["kind"], doc["metadata"]["name"]))


def test_data_services(overlay):
    name, docs = overlay
    (rmq,), (pg,) = of_kind(docs, "RabbitmqCluster"), of_kind(docs, "Cluster")
    config = configmap(docs, "vowrewards-config")
    assert config["AMQP_HOST"] == rmq["metadata"]["name"] and config["DB_HOST"] == pg["metadata"]["name"] + "-rw"
    assert "rabbitmq_prometheus" in rmq["spec"]["rabbitmq"]["additionalPlugins"]
    assert (rmq["spec"]["replicas"], pg["spec"]["instances"]) == ((1, 1) if name == "dev" else (3, 3))
    roles = {r["name"]: r for r in pg["spec"]["managed"]["roles"]}
    assert set(roles) == {"vow_" + c for c in COMPONENTS}
    sql = " ".join(pg["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"])
    for c, dep in deployments(docs).items():
        assert {roles["vow_" + c]["passwordSecret"]["name"]} == {s for s in secret_refs(dep) if s.startswith("vowrewards-db-")}
        assert re.search(r"CREATE SCHEMA IF NOT EXISTS %s AUTHORIZATION vow_%s\b" % (c, c), sql), c


def test_the_dev_overlay_is_one_small_replica_with_fake_secrets(overlay):
    name, docs = overlay
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    if name == "dev":
        assert all(h["spec"]["minReplicas"] == h["spec"]["maxReplicas"] == 1 for h in hpas)
        secrets = {unhashed(s["metadata"]["name"]) for s in of_kind(docs, "Secret")}
        for workload in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
            missing = secret_refs(workload, optional=False) - secrets
            assert {m for m in missing if not m.endswith("-default-user")} == set(), "dev lacks %s" % missing
        text = (K8S / "overlays" / "dev" / "kustomization.yaml").read_text()
        assert "DEV ONLY" in text and "dev-only-not-secret" in text
    else:
        assert not of_kind(docs, "Secret"), "production must not render Secrets"
        mins = {h["metadata"]["name"]: h["spec"]["minReplicas"] for h in hpas}
        assert min(mins.values()) >= 2 and mins["vowrewards-gateway"] > mins["vowrewards-support"]
        assert mins["vowrewards-redemption"] > mins["vowrewards-support"]
        # DB_POOL_SIZE connections per pod at most: stay under PostgreSQL's max_connections
        pool = int(configmap(docs, "vowrewards-config")["DB_POOL_SIZE"])
        (pg,) = of_kind(docs, "Cluster")
        assert sum(h["spec"]["maxReplicas"] for h in hpas) * pool < int(pg["spec"]["postgresql"]["parameters"]["max_connections"])


# --- network policies and monitoring (production) ------------------------------------------

def _ports(rules):
    return {(p.get("protocol", "TCP"), p["port"]) for rule in rules for p in rule.get("ports", [])}


def _selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
        (labels.get(e["key"]) in e["values"]) == (e["operator"] == "In")
        for e in selector.get("matchExpressions", []))


def test_network_policies_allow_each_component_only_what_it_needs():
    docs = rendered("production")
    policies = of_kind(docs, "NetworkPolicy")
    assert [p for p in policies if p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {
        "Ingress", "Egress"} and not p["spec"].get("ingress") and not p["spec"].get("egress")], "no default deny"
    smtp = int(configmap(docs, "vowrewards-notification")["SMTP_PORT"])
    workloads = list(deployments(docs).values()) + of_kind(docs, "Job")
    for workload in workloads:
        c, labels = component_of(workload), workload["spec"]["template"]["metadata"]["labels"]
        applying = [p["spec"] for p in policies if p["spec"]["podSelector"] and _selects(p["spec"]["podSelector"], labels)]
        assert len(applying) == 1, "%s: one policy of its own (%d apply)" % (c, len(applying))
        (policy,) = applying
        egress, ingress = policy["egress"], policy.get("ingress", [])
        assert all(rule.get("to") and rule.get("ports") for rule in egress), "%s: egress to anywhere" % c
        needs = {("UDP", 53), ("TCP", 53), ("TCP", 5672)} | (set() if c == "topology" else {("TCP", 5432)})
        # notification: the SMTP relay, and webhooks (HTTPS)
        assert _ports(egress) == needs | ({("TCP", smtp), ("TCP", 443)} if c == "notification" else set()) | (
            {("TCP", 443)} if c == "support" else set()), c  # support: attachments in S3
        expected = set() if c == "topology" else {("TCP", HEALTH_PORT)} | ({("TCP", 8000)} if c == "gateway" else set())
        assert _ports(ingress) == expected, c
        assert all(rule.get("from") for rule in ingress if ("TCP", HEALTH_PORT) in _ports([rule])), "%s: metrics open" % c


def test_the_support_mail_servers_policy_admits_smtp_and_reaches_only_the_database():
    docs = rendered("production")
    labels = by_name(docs, "Deployment")[INBOUND]["spec"]["template"]["metadata"]["labels"]
    policies = of_kind(docs, "NetworkPolicy")
    (policy,) = [p["spec"] for p in policies if p["spec"]["podSelector"] and _selects(p["spec"]["podSelector"], labels)]
    smtp = [rule for rule in policy["ingress"] if ("TCP", 2525) in _ports([rule])]
    assert smtp and not smtp[0].get("from"), "mail comes from anywhere (MX relays, senders)"
    assert _ports(policy["ingress"]) == {("TCP", 2525), ("TCP", HEALTH_PORT)}
    assert all(rule.get("from") for rule in policy["ingress"] if ("TCP", HEALTH_PORT) in _ports([rule]))
    assert _ports(policy["egress"]) == {("UDP", 53), ("TCP", 53), ("TCP", 5432)}
    # and PostgreSQL's own policy admits it
    (pg,) = [p["spec"] for p in policies if p["metadata"]["name"] == "vowrewards-pg"]
    assert any(("TCP", 5432) in _ports([rule]) and any(_selects(f.get("podSelector", {}), labels)
                                                       for f in rule.get("from", [])) for rule in pg["ingress"])


def test_every_component_is_scraped():
    docs = rendered("production")
    monitors = of_kind(docs, "ServiceMonitor")
    assert all(e["port"] == "health" and e["path"] == "/metrics" for m in monitors for e in m["spec"]["endpoints"])
    for service in of_kind(docs, "Service"):
        assert any(_selects(m["spec"]["selector"], service["metadata"]["labels"]) for m in monitors), (
            "no ServiceMonitor selects " + service["metadata"]["name"])
    for monitor in monitors:
        assert any(_selects(monitor["spec"]["selector"], s["metadata"]["labels"]) for s in of_kind(docs, "Service"))


def test_readme_documents_every_secret_and_procedure():
    readme = (K8S / "README.md").read_text()
    names = set().union(*(secret_refs(d) for d in of_kind(rendered("production"), "Deployment")))
    for name in {re.sub(r"-(%s)$" % "|".join(COMPONENTS), "-<component>", n) for n in names} | {"vowrewards-amqp"}:
        assert "`%s`" % name in readme, "README does not document the Secret " + name
    for needle in ("kubectl apply -k deploy/k8s/overlays/production", "openssl genpkey -algorithm ed25519",
                   "QR_SIGNING_KEYS_PREVIOUS", "/parked-events", "/replay", "rollout undo",
                   "rollout restart", "make image"):
        assert needle in readme, needle
