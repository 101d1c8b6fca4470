"""Webhook endpoints' secrets at rest: sealed under WEBHOOK_SECRET_KEYS, rotatable, required."""
import pytest
from cryptography.fernet import Fernet, InvalidToken

from plumbing.config import ConfigError
from services.notification import webhooks
from services.notification.service import WebhookSecrets


def test_a_sealed_secret_is_not_the_secret_and_still_signs():
    keys = webhooks.SecretKeys(Fernet.generate_key().decode())
    secret = webhooks.new_secret()
    sealed = keys.seal(secret)
    assert secret not in sealed and secret[6:20] not in sealed
    body = b'{"id":"e1"}'
    assert webhooks.verify(secret, webhooks.signature([keys.open(sealed)], body), body)


def test_rotation_the_new_key_seals_and_the_old_one_still_opens():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = webhooks.SecretKeys(old).seal("whsec_before")
    rotated = webhooks.SecretKeys(" %s , %s " % (new, old))  # the new key first
    assert rotated.open(before) == "whsec_before"
    after = rotated.seal("whsec_after")
    assert webhooks.SecretKeys(new).open(after) == "whsec_after"
    with pytest.raises(InvalidToken):
        webhooks.SecretKeys(old).open(after)  # sealed with the new key, not the old
    # resealed under the new key, the old one can be dropped
    assert webhooks.SecretKeys(new).open(rotated.reseal(before)) == "whsec_before"


@pytest.mark.parametrize("keys", [None, "", " , ", "not-a-fernet-key"])
def test_the_service_refuses_to_start_without_usable_keys(keys):
    provider = WebhookSecrets()
    provider.container = type("Container", (), {"config": {"WEBHOOK_SECRET_KEYS": keys}})()
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET_KEYS"):
        provider.setup()


def test_keys_come_from_the_setting_a_file_or_make_runs_local_key(tmp_path):
    env = {}.get
    assert webhooks.secret_keys_text(env, tmp_path) is None  # production without a key: nothing
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "webhook-secret-keys").write_text("local-key\n")
    assert webhooks.secret_keys_text(env, tmp_path) == "local-key"
    mounted = tmp_path / "mounted"
    mounted.write_text("k1,k2\n")
    assert webhooks.secret_keys_text({"WEBHOOK_SECRET_KEYS_FILE": str(mounted)}.get, tmp_path) == "k1,k2"
    assert webhooks.secret_keys_text({"WEBHOOK_SECRET_KEYS": "inline"}.get, tmp_path) == "inline"
