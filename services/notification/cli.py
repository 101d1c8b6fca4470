"""The operator's webhook key rotation: every stored endpoint secret encrypted again under the first of
``WEBHOOK_SECRET_KEYS``, so the keys after it can be dropped (deploy/k8s/README.md, "Rotate the keys")."""
import argparse

from plumbing import config as cfg
from plumbing.db import ConnectionPool
from services.notification import storage, webhooks


def reseal_webhook_secrets(argv, database_url=None, keys=None, out=print):
    argparse.ArgumentParser(prog="python -m services.notification reseal-webhook-secrets",
                            description=__doc__.splitlines()[0]).parse_args(argv)
    keys = keys or webhooks.SecretKeys(webhooks.secret_keys_text(cfg.env, cfg.LOCAL_DIR))
    pool = ConnectionPool(database_url or cfg.service_database_url("notification"), size=1, schema="notification")
    try:
        count = pool.run(lambda tx: storage.reseal_endpoint_secrets(tx, keys.reseal))  # one transaction
    finally:
        pool.close()
    out("ok: %d webhook secret(s) encrypted under the first key; the others may be dropped" % count)
    return 0
