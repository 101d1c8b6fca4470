"""The container image: deploy/Dockerfile read offline against the rules we keep (hadolint is
not available), and built when a docker or podman daemon is reachable (skipped in one line
otherwise): non-root, its Python packages exactly requirements.txt."""
import os
import re
import shutil
import subprocess

import pytest

from tests.unit.k8s_render import DEPLOY, REPO

DOCKERFILE = DEPLOY / "Dockerfile"
RUNTIME_PACKAGES = ("plumbing", "services", "gateway")


def instructions():
    """(INSTRUCTION, arguments) per Dockerfile line, continuations joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(l for l in DOCKERFILE.read_text().splitlines() if not l.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in text.splitlines() if line.strip()]


def stages():
    found = []
    for instruction, args in instructions():
        if instruction == "FROM":
            found.append([])
        if found:
            found[-1].append((instruction, args))
    return found


def test_the_base_image_is_pinned():
    args = dict(a.split("=", 1) for i, a in instructions() if i == "ARG" and "=" in a)
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", args["PYTHON_IMAGE"]), (
        "pin the base image to a patch release (or a digest), not %s" % args["PYTHON_IMAGE"])
    assert re.fullmatch(r"node:20\.\d+\.\d+-\w+-slim(@sha256:[0-9a-f]{64})?", args["NODE_IMAGE"]), (
        "pin the portal's build image to a patch release (or a digest), not %s" % args["NODE_IMAGE"])
    portal, *python = stages()
    assert portal[0][1].split()[0] == "${NODE_IMAGE}", "the portal is built in the first stage"
    for stage in python:
        base = stage[0][1].split()[0]
        assert base == "${PYTHON_IMAGE}", "every Python stage builds on the pinned base, not %s" % base


def test_multi_stage_and_the_runtime_stage_runs_as_nobody_we_know():
    portal, build, runtime = stages()
    assert ("RUN", "npm ci --ignore-scripts --no-audit --no-fund") in portal, "the lockfile's packages, no scripts"
    assert ("COPY", "--from=portal /src/gateway/portal/dist gateway/portal/dist") in runtime
    assert any(i == "RUN" and "pip install" in a for i, a in build)
    assert not any(i == "RUN" and "pip " in a for i, a in runtime), "no pip in the runtime stage"
    users = [a for i, a in runtime if i == "USER"]
    assert users and re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", users[-1]), "USER must be a numeric non-root uid:gid"
    last_user = max(n for n, (i, _) in enumerate(runtime) if i == "USER")
    assert not [i for i, _ in runtime[last_user:] if i in ("RUN", "COPY", "ADD")], "nothing runs as root after USER"
    assert ("ENTRYPOINT", '["python", "-m"]') in runtime
    assert [a for i, a in runtime if i == "HEALTHCHECK"], "HEALTHCHECK for docker run (Kubernetes uses its probes)"
    assert set(" ".join(a for i, a in runtime if i == "EXPOSE").split()) == {"8000", "9100"}


def test_dependencies_are_the_pinned_ones_and_only_the_runtime_code_is_copied():
    for instruction, args in instructions():
        if instruction == "RUN" and "pip install" in args:
            assert "--no-cache-dir" in args and re.search(r"-r \S*requirements\.txt", args), args
            assert not re.search(r"pip install(?: --?[\w-]+)* [a-zA-Z]", args.split("-r ")[0]), "only requirements.txt"
        assert instruction != "ADD", "COPY, not ADD (no remote URLs, no archives unpacked)"
        if instruction == "COPY" and not args.startswith("--from="):
            assert args.split()[0] in ("requirements.txt", "package.json", "gateway/portal/") + tuple(
                p + "/" for p in RUNTIME_PACKAGES), args
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore and {"!requirements.txt"} | {"!%s/" % p for p in RUNTIME_PACKAGES} <= set(ignore)


def test_the_requirements_are_all_pinned():
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert re.fullmatch(r"[\w.-]+==[\w.]+", line), "not pinned: " + line


# --- a real build, where a daemon is reachable ------------------------------------------------

def container_tool():
    """docker or podman with a reachable daemon, or the one-line reason there is none."""
    for tool in ("docker", "podman"):
        if shutil.which(tool) and subprocess.run([tool, "info"], capture_output=True, timeout=30).returncode == 0:
            return tool, None
    installed = [tool for tool in ("docker", "podman") if shutil.which(tool)]
    if installed:
        return None, "%s is installed but no daemon answers (`%s info` fails): the image is not built" % (
            installed[0], installed[0])
    return None, "neither docker nor podman is installed: the image is not built"


@pytest.fixture(scope="module")
def image():
    tool, why = container_tool()
    if tool is None:
        pytest.skip(why)
    tag = "vowrewards:test-image"
    command = [tool, "build", "-f", str(DOCKERFILE), "-t", tag, str(REPO)]
    if tool == "podman":
        command[2:2] = ["--ignorefile", str(DEPLOY / "Dockerfile.dockerignore")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                            env={**os.environ, "DOCKER_BUILDKIT": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    yield tool, tag
    subprocess.run([tool, "rmi", "-f", tag], capture_output=True)


def test_the_image_runs_as_uid_10001_with_exactly_the_pinned_packages(image):
    tool, tag = image
    uid = subprocess.run([tool, "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True, text=True)
    assert uid.stdout.strip() == "10001"
    freeze = subprocess.run([tool, "run", "--rm", tag, "pip", "freeze"], capture_output=True, text=True, check=True)
    installed = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
                 for line in freeze.stdout.splitlines() if "==" in line}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            assert installed.get(name.lower().replace("_", "-")) == version, line
    modules = subprocess.run([tool, "run", "--rm", "--entrypoint", "python", tag, "-c",
                              "import services.redemption.service, gateway.service, plumbing.migrate"],
                             capture_output=True, text=True)
    assert modules.returncode == 0, modules.stderr
    listing = subprocess.run([tool, "run", "--rm", "--entrypoint", "ls", tag, "/app"], capture_output=True, text=True)
    assert set(listing.stdout.split()) == set(RUNTIME_PACKAGES), "only the runtime code is in the image"
