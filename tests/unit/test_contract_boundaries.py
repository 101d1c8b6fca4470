"""A process loads its own service's code, plumbing, and the other services' contracts: nothing else
of theirs (run in a fresh interpreter per component, as the process starts it)."""
import json
import subprocess
import sys

import pytest

from plumbing import config as cfg

ENTRYPOINTS = dict({name: "services.%s.service" % name for name in cfg.SERVICES}, gateway="gateway.service")
# heavy libraries, and the only components that have a use for them
LIBRARIES = {"zxingcpp": {"gateway"}, "qrcode": {"gateway"}, "PIL": {"gateway", "support"}, "barcode": {"gateway"},
             "argon2": {"gateway", "redemption", "settlement"}}
LOADED = "import importlib, json, sys; importlib.import_module(sys.argv[1]); print(json.dumps(sorted(sys.modules)))"


def modules_loaded_by(module):
    done = subprocess.run([sys.executable, "-c", LOADED, module], cwd=cfg.REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def is_contract(module):
    """``services.<name>.contract...``, or the (empty) package ``services.<name>`` above it."""
    parts = module.split(".")
    return len(parts) == 2 or parts[2] == "contract"


@pytest.fixture(scope="module", params=sorted(ENTRYPOINTS))
def component(request):
    return request.param, modules_loaded_by(ENTRYPOINTS[request.param])


def test_a_component_loads_only_the_contracts_of_the_other_services(component):
    name, modules = component
    own = "services." + name
    foreign = [m for m in modules if m.startswith("services.") and m != own and not m.startswith(own + ".")]
    assert [m for m in foreign if not is_contract(m)] == []
    assert "services.catalog" not in modules


def test_a_component_loads_no_library_it_has_no_use_for(component):
    name, modules = component
    loaded = {library for library in LIBRARIES if library in modules}
    assert loaded <= {library for library, users in LIBRARIES.items() if name in users}


def test_the_packages_above_the_contracts_are_empty():
    """Importing ``services.<name>.contract`` runs ``services/<name>/__init__.py``: nothing may be in it."""
    for name in cfg.SERVICES:
        assert (cfg.REPO_ROOT / "services" / name / "__init__.py").read_text().strip() == ""
    assert (cfg.REPO_ROOT / "services" / "__init__.py").read_text().strip() == ""


def test_no_two_plumbing_modules_import_each_other():
    """Not even lazily, inside a function: a cycle is a layering mistake, whatever hides it."""
    import ast
    graph = {}
    for path in (cfg.REPO_ROOT / "plumbing").glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + ["%s.%s" % (node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            imported |= {name.split(".")[1] for name in names if name.startswith("plumbing.")}
        graph[path.stem] = imported - {path.stem}

    def reaches(start, goal, seen=()):
        return any(step == goal or (step not in seen and reaches(step, goal, seen + (step,)))
                   for step in graph.get(start, ()))
    assert sorted(module for module in graph if reaches(module, module)) == []
