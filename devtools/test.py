"""``make test``: make the servers reachable (as ``make run`` does), then run pytest.

Arguments are passed to pytest (``make test ARGS="-k redemption"``).
"""
import subprocess
import sys

from devtools import portal, servers
from plumbing import config as cfg


def main(argv):
    started = servers.ensure_all()
    portal.build()  # the browser tests (tests/browser) drive the built portal in Debian's Chromium
    portal.ensure_browser()
    try:
        return subprocess.call([sys.executable, "-m", "pytest"] + argv, cwd=str(cfg.REPO_ROOT))
    finally:
        servers.stop_all(started)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
