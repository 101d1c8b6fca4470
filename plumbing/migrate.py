"""``python -m plumbing.migrate [component ...]``: apply migrations (all components by default).

``--bootstrap`` first creates the database, the per-service roles and schemas
with the admin ``DATABASE_URL``, and afterwards declares the whole event
topology on RabbitMQ with the admin ``AMQP_URI`` (what ``make migrate`` does
locally). ``--topology`` alone only declares the topology (the Kubernetes
topology Job). On Kubernetes each component's init container runs it without
either flag, as that component's own role, before the new version starts.
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
                        help="create the database, roles and schemas first (admin DATABASE_URL), "
                             "and declare the event topology after (admin AMQP_URI)")
    parser.add_argument("--topology", action="store_true",
                        help="declare the event topology (admin AMQP_URI); alone, nothing else")
    args = parser.parse_args(argv)
    if args.topology and not (args.bootstrap or args.components):
        return declare_topology()
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
    if args.bootstrap or args.topology:
        return declare_topology()
    return 0


def declare_topology():
    from plumbing.topology import declare_topology as declare
    queues = declare(cfg.admin_amqp_uri())
    print("vowrewards: event topology declared (%d subscriber queues)" % len(queues), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
