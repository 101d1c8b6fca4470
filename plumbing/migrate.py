"""``python -m plumbing.migrate [component ...]``: apply migrations (all components by default).

``--bootstrap`` first creates the database, the per-service roles and schemas
with the admin ``DATABASE_URL`` (what ``make migrate`` does locally). On
Kubernetes each component's init container runs it without ``--bootstrap``,
as that component's own role, before the new version starts.
"""
import argparse
import os
import sys

from plumbing import config as cfg
from plumbing.migrations import bootstrap, current_revision, upgrade


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m plumbing.migrate")
    parser.add_argument("components", nargs="*", metavar="component",
                        help="gateway or a service name; all when none is given")
    parser.add_argument("--bootstrap", action="store_true",
                        help="create the database, roles and schemas first (admin DATABASE_URL)")
    args = parser.parse_args(argv)
    components = args.components or list(cfg.ALL_COMPONENTS)
    unknown = set(components) - set(cfg.ALL_COMPONENTS)
    if unknown:
        parser.error("unknown component(s): %s (choose from %s)" % (
            ", ".join(sorted(unknown)), ", ".join(cfg.ALL_COMPONENTS)))
    if args.bootstrap:
        roles = bootstrap(cfg.admin_database_url(), components)
        if not roles:
            os.environ["DB_ROLE_PER_SERVICE"] = "0"
    for component in components:
        upgrade(component, cfg.service_database_url(component))
        print("vowrewards: %s migrated to %s" % (component, current_revision(component)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
