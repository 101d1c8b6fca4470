"""Renders the kustomize overlays under deploy/k8s once per test process, for the k8s tests.

``kubectl kustomize`` (kustomize v5 built in) or ``kustomize build`` renders a copy of
deploy/k8s in which the dev overlay's git-ignored JWT keys are throwaway ones made here.
Where neither tool exists, ``rendered()`` skips the calling test with one line.
"""
import atexit
import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "production")
COMPONENTS = ("gateway", "support", "redemption", "campaign", "settlement", "notification")
NO_RENDERER = "neither kubectl nor kustomize is installed: the rendered manifests are not checked"


def renderer():
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


@functools.lru_cache(maxsize=None)
def _copy():
    root = Path(tempfile.mkdtemp(prefix="vowrewards-k8s-"))
    atexit.register(shutil.rmtree, root, True)
    copy = root / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("jwt-keys"))
    _throwaway_jwt_keys(copy / "overlays" / "dev" / "jwt-keys")
    return copy


def _throwaway_jwt_keys(directory):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    directory.mkdir(parents=True)
    key = Ed25519PrivateKey.generate()
    (directory / "jwt-private-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (directory / "jwt-public-key.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


@functools.lru_cache(maxsize=None)
def rendered_text(overlay):
    """The YAML stream of one overlay (``dev``, ``production``) or ``base``."""
    command = renderer()
    if command is None:
        pytest.skip(NO_RENDERER)
    target = _copy() / ("base" if overlay == "base" else "overlays/" + overlay)
    result = subprocess.run(command + [str(target)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, "%s does not render:\n%s" % (overlay, result.stderr)
    return result.stdout


def rendered(overlay):
    return [doc for doc in yaml.safe_load_all(rendered_text(overlay)) if doc]


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def by_name(docs, kind):
    return {d["metadata"]["name"]: d for d in of_kind(docs, kind)}


def component_of(doc):
    return doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def pod_spec(workload):
    return workload["spec"]["template"]["spec"]


def containers(workload, init=True):
    spec = pod_spec(workload)
    return spec.get("containers", []) + (spec.get("initContainers", []) if init else [])


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def unhashed(name):
    """A generated object's name without the hash suffix kustomize gives it (its alphabet has no vowels)."""
    return re.sub(r"-[bcdfghkmt2456789]{10}$", "", name)


def secret_refs(doc, optional=True):
    """Every Secret a manifest references, wherever it does (optional references too, unless
    told), by its name before kustomize's hash suffix."""
    names = set()

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("secretKeyRef") or (node.get("secretRef") if isinstance(node.get("secretRef"), dict) else None)
            if ref and (optional or not ref.get("optional")):
                names.add(ref.get("name"))
            if isinstance(node.get("secret"), dict) and (optional or not node["secret"].get("optional")):
                names.add(node["secret"].get("secretName"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    names.discard(None)
    return {unhashed(n) for n in names}


def configmap(docs, name):
    """The data of the ConfigMap ``name`` (whatever hash suffix kustomize gave it)."""
    (found,) = [c for c in of_kind(docs, "ConfigMap") if unhashed(c["metadata"]["name"]) == name]
    return found.get("data", {})
