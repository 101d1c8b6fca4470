"""Would the rendered overlays apply, and would a security scanner pass them? Offline.

* Core kinds are validated strictly (unknown fields are errors) with kubernetes-validate
  (pinned in requirements-dev.txt) against the schemas of the two newest Kubernetes minor
  versions that release ships (1.37 and 1.36 for kubernetes-validate 1.37.0).
* The operators' kinds (RabbitMQ, messaging topology, CloudNativePG, prometheus-operator)
  have no schema there: their apiVersion, kind and the fields their CRDs require are
  checked here, and any other kind without a schema fails.
* checkov (deploy/requirements-checkov.txt; skipped in one line where it is not installed)
  scans both overlays: nothing may fail, and every suppression is an annotation in the
  manifest naming its reason (``checkov.io/skipN: CKV_K8S_xx=reason``).
"""
import copy
import json
import subprocess
from pathlib import Path

import pytest

from tests.unit.k8s_render import DEPLOY, OVERLAYS, REPO, by_name, rendered, rendered_text

kubernetes_validate = pytest.importorskip("kubernetes_validate")

# The fields each operator's CRD requires (and what we rely on), as paths into the object.
CRD_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): ["spec.replicas", "spec.persistence.storage"],
    ("rabbitmq.com/v1beta1", "User"): ["spec.rabbitmqClusterReference.name", "spec.importCredentialsSecret.name"],
    ("rabbitmq.com/v1beta1", "Permission"): [
        "spec.vhost", "spec.userReference.name", "spec.rabbitmqClusterReference.name",
        "spec.permissions.configure", "spec.permissions.write", "spec.permissions.read"],
    ("rabbitmq.com/v1beta1", "TopicPermission"): [
        "spec.vhost", "spec.userReference.name", "spec.rabbitmqClusterReference.name",
        "spec.permissions.exchange", "spec.permissions.write", "spec.permissions.read"],
    ("postgresql.cnpg.io/v1", "Cluster"): ["spec.instances", "spec.storage.size"],
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ["spec.selector", "spec.endpoints"],
    ("monitoring.coreos.com/v1", "PrometheusRule"): ["spec.groups"],
}


def kubernetes_versions():
    """The two newest minor versions the pinned kubernetes-validate ships schemas for."""
    from kubernetes_validate.utils import all_versions, major_minor
    newest = sorted({major_minor(v) for v in all_versions()}, key=lambda v: tuple(map(int, v.split("."))))
    return newest[-2:]


def test_the_two_newest_schemas_are_the_ones_checked():
    assert kubernetes_versions() == ["1.36", "1.37"], "kubernetes-validate was bumped: say so in its pin's comment"


def _path(doc, dotted):
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def problems(doc, version):
    """Why ``doc`` would not apply to Kubernetes ``version`` (with the operators installed)."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CRD_KINDS:
        missing = [p for p in CRD_KINDS[key] + ["metadata.name"] if _path(doc, p) in (None, "", [], {})]
        return ["missing " + ", ".join(missing)] if missing else []
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return ["no schema for %s %s and no check of our own: add it to CRD_KINDS" % key]
    except kubernetes_validate.ValidationError as error:
        return ["%s at %s" % (error.message, "/".join(map(str, error.path)))]
    return []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_newest_kubernetes(overlay):
    docs = rendered(overlay)
    failures = ["%s %s (%s): %s" % (d["kind"], d["metadata"]["name"], v, p)
                for v in kubernetes_versions() for d in docs for p in problems(d, v)]
    assert not failures, "\n".join(failures)


def test_the_validation_is_strict():
    """Guard on the guard: a misspelt field, a wrong type, a CRD without its cluster are caught."""
    docs = rendered("production")
    deployment = copy.deepcopy(by_name(docs, "Deployment")["vowrewards-gateway"])
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert problems(deployment, kubernetes_versions()[-1])
    hpa = copy.deepcopy(by_name(docs, "HorizontalPodAutoscaler")["vowrewards-gateway"])
    hpa["spec"]["minReplicas"] = "two"
    assert problems(hpa, kubernetes_versions()[-1])
    user = copy.deepcopy(by_name(docs, "User")["vowrewards-amqp-gateway"])
    del user["spec"]["rabbitmqClusterReference"]
    assert problems(user, kubernetes_versions()[-1])
    assert problems({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}, "1.37")


def test_prometheus_rules_are_well_formed():
    (rule,) = [d for d in rendered("production") if d["kind"] == "PrometheusRule"]
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert r["expr"] and ("alert" in r) != ("record" in r), r
            assert str(r["expr"]).count("(") == str(r["expr"]).count(")"), r.get("alert")
            if "alert" in r:
                assert r["labels"]["severity"] in ("warning", "critical") and r["annotations"]["summary"]


# --- checkov -----------------------------------------------------------------------------

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"  # its own venv (Makefile: make install)


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory):
    if not CHECKOV.exists():
        pytest.skip("checkov is not installed: make install (it puts it in .venv-checkov)")
    directory = tmp_path_factory.mktemp("checkov")
    files = []
    for overlay in OVERLAYS:
        files += ["-f", str(directory / (overlay + ".yaml"))]
        (directory / (overlay + ".yaml")).write_text(rendered_text(overlay))
    # --skip-download: offline, no calls to the vendor's platform
    result = subprocess.run([str(CHECKOV), *files, "--framework", "kubernetes",
                             "--skip-download", "--compact", "--output", "json"],
                            capture_output=True, text=True, timeout=300, cwd=str(directory))
    assert result.returncode in (0, 1) and result.stdout.startswith("{"), result.stderr[-3000:]
    return json.loads(result.stdout)


def test_checkov_finds_nothing_unexplained(checkov_report):
    report = checkov_report
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["resource_count"] > 100
    failed = ["%s %s: %s" % (r["check_id"], r["resource"], r["check_name"]) for r in report["results"]["failed_checks"]]
    assert not failed, "fix these, or annotate the manifest with checkov.io/skipN: CHECK=reason:\n" + "\n".join(failed)
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment") or ""
        assert len(reason) > 30, "%s on %s is suppressed without a reason" % (skipped["check_id"], skipped["resource"])


def test_every_checkov_suppression_is_still_needed(checkov_report):
    """A suppression whose check would pass anyway is stale: remove it."""
    used = {(r["check_id"], r["resource"]) for r in checkov_report["results"]["skipped_checks"]}
    for overlay in OVERLAYS:
        for doc in rendered(overlay):
            meta = doc["metadata"]
            for key, value in meta.get("annotations", {}).items():
                if key.startswith("checkov.io/skip"):
                    check = value.split("=", 1)[0]
                    resource = "%s.%s.%s" % (doc["kind"], meta.get("namespace", "default"), meta["name"])
                    assert (check, resource) in used, "%s on %s no longer fails: drop the suppression" % (check, resource)


def test_checkov_is_pinned_whole():
    """Its own virtualenv is built from deploy/requirements-checkov.txt alone: every package pinned."""
    lines = [line.split("#")[0].strip() for line in (DEPLOY / "requirements-checkov.txt").read_text().splitlines()]
    pins = [line for line in lines if line]
    assert any(line.startswith("checkov==") for line in pins)
    assert all("==" in line for line in pins), [line for line in pins if "==" not in line]
