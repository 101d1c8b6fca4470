"""The portal's front end: build it (``make run``, ``make test``) and find the browser its tests drive.

The portal's sources are plain ES modules and CSS under ``gateway/portal/src``; esbuild (an npm
package pinned in ``package.json`` / ``package-lock.json``) bundles them into ``gateway/portal/dist``,
which the gateway serves at ``/portal/``. Nothing built is committed: this installs the npm packages
(``npm ci``, once per lockfile) and rebuilds when a source changed. Without npm (and no way to
install it) it says so in one line and the API runs without the portal.

The browser tests drive Debian's Chromium (``/usr/bin/chromium``, or ``PORTAL_BROWSER``), installed
from the system's packages where that is possible (root on Debian or Ubuntu); Playwright never
downloads a browser of its own.

``python -m devtools.portal`` builds; ``--browser`` also makes sure of the browser.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

from devtools import servers
from plumbing import config as cfg

REPO = cfg.REPO_ROOT
PORTAL = REPO / "gateway" / "portal"
SRC = PORTAL / "src"
DIST = PORTAL / "dist"
MODULES = REPO / "node_modules"
FINGERPRINT = DIST / ".fingerprint"
BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _digest(paths):
    sha = hashlib.sha256()
    for path in sorted(paths):
        sha.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


def npm():
    return shutil.which("npm")


def ensure_npm():
    if npm() and shutil.which("node"):
        return True
    if servers.can_install_packages():
        servers.install_packages("nodejs", "npm")
        return bool(npm())
    servers.say("portal: npm is not installed, so the portal is not built (the API runs without it): "
                "install Node.js and npm (Debian/Ubuntu: sudo apt-get install nodejs npm)")
    return False


def ensure_packages():
    """``npm ci`` once per package-lock.json (no install scripts run: esbuild's binary is a package)."""
    stamp = MODULES / (".vowrewards-" + _digest([REPO / "package-lock.json"])[:16])
    if stamp.exists():
        return
    servers.say("portal: installing the npm packages (npm ci)")
    subprocess.run([npm(), "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=str(REPO), check=True)
    for old in MODULES.glob(".vowrewards-*"):
        old.unlink()
    stamp.touch()


def sources_fingerprint():
    files = [p for p in SRC.rglob("*") if p.is_file()]
    return _digest(files + [PORTAL / "build.mjs", REPO / "package-lock.json"])


def build(force=False):
    """Build the portal unless the built one is of these very sources. True when there is one."""
    fingerprint = sources_fingerprint()
    if not force and FINGERPRINT.exists() and FINGERPRINT.read_text() == fingerprint \
            and (DIST / "index.html").exists():
        return True
    if not ensure_npm():
        return (DIST / "index.html").exists()
    try:
        ensure_packages()
        subprocess.run(["node", str(PORTAL / "build.mjs")], cwd=str(REPO), check=True)
    except subprocess.CalledProcessError as exc:
        servers.say("portal: the build failed (%s); the API runs without the portal" % exc)
        return False
    FINGERPRINT.write_text(fingerprint)
    return True


def build_report():
    """What ``build.mjs`` measured: bytes of the first load and of everything, raw and gzipped."""
    path = DIST / "build.json"
    return json.loads(path.read_text()) if path.exists() else None


def find_browser():
    configured = os.environ.get("PORTAL_BROWSER")
    if configured:
        return configured if os.path.exists(configured) else None
    for path in BROWSERS:
        if os.path.exists(path):
            return path
    return None


def ensure_browser(quiet=False):
    """Debian's Chromium for the browser tests: found, installed where we may, or None (one line why)."""
    found = find_browser()
    if found is None and servers.can_install_packages():
        try:
            servers.install_packages("chromium")
        except subprocess.CalledProcessError as exc:
            servers.say("portal: installing chromium failed (%s)" % exc)
        found = find_browser()
    if found is None and not quiet:
        servers.say("portal: the browser tests are skipped: install Chromium (Debian/Ubuntu: "
                    "sudo apt-get install chromium) or set PORTAL_BROWSER to a Chromium binary")
    return found


def main(argv):
    ok = build(force="--force" in argv)
    if "--browser" in argv:
        ensure_browser()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
