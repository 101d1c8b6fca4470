"""Revocations as a process keeps them: which tokens they refuse, for how long, and what a
process does before it knows them."""
import time

import pytest

from plumbing.auth import OWNER, TokenSigner, TokenVerifier, generate_keypair
from plumbing.errors import ServiceUnavailable, Unauthenticated
from plumbing.revocation import Revocations, revocation

PRIVATE, PUBLIC = generate_keypair()
NOW = 1_800_000_000


def identity(user_id="u1", session_id="s1", issued_at=NOW - 60):
    token, _ = TokenSigner(PRIVATE).sign(user_id, "someone", OWNER, merchant_id="m1", session_id=session_id,
                                         now=issued_at)
    return TokenVerifier(PUBLIC, leeway=10 ** 9).verify(token)  # an old token, judged as if current


def test_a_revoked_session_is_refused_and_the_users_other_sessions_are_not():
    known = Revocations()
    known.apply(revocation("u1", ["s1"], 900, "logout", now=NOW), now=NOW)
    assert known.refuses(identity(session_id="s1"), now=NOW + 1)
    assert not known.refuses(identity(session_id="s2"), now=NOW + 1)
    assert not known.refuses(identity(user_id="u2", session_id="s9"), now=NOW + 1)


def test_ending_every_session_refuses_older_tokens_and_not_one_issued_just_after():
    known = Revocations()
    known.apply(revocation("u1", ["s1", "s2"], 900, "disabled", all_sessions=True, now=NOW + 0.7), now=NOW + 1)
    assert known.refuses(identity(session_id="s2"), now=NOW + 1)
    assert known.refuses(identity(session_id=None, issued_at=NOW - 1), now=NOW + 1)  # a token without a session
    # the same second, a new sign-in (a new session): it must live
    assert not known.refuses(identity(session_id="s3", issued_at=NOW), now=NOW + 1)
    assert not known.refuses(identity(session_id=None, issued_at=NOW + 1), now=NOW + 1)


def test_a_revocation_is_forgotten_once_every_token_it_refuses_has_expired():
    known = Revocations()
    payload = revocation("u1", ["s1"], 900, "logout", all_sessions=True, now=NOW)
    known.apply(payload, now=NOW)
    assert len(known) == 2
    assert not known.refuses(identity(), now=payload.until + 1)
    known.prune(now=payload.until + 1, force=True)
    assert len(known) == 0
    assert known.apply(payload, now=payload.until + 1) and len(known) == 0  # stale on arrival: nothing kept


@pytest.mark.parametrize("payload", [
    {}, {"user_id": "u1"}, {"user_id": "u1", "until": "soon"}, {"user_id": "u1", "until": NOW, "session_ids": "s1"},
    "not an object", {"user_id": "u1", "until": NOW, "not_before": 1.5},
])
def test_a_malformed_revocation_changes_nothing(payload):
    known = Revocations()
    assert known.apply(payload, now=NOW) is False and len(known) == 0


def test_a_revocation_cannot_claim_to_last_longer_than_a_day():
    known = Revocations()
    known.apply({"user_id": "u1", "session_ids": ["s1"], "until": NOW + 10 ** 9}, now=NOW)
    assert known.refuses(identity(), now=NOW + 3600)
    assert not known.refuses(identity(), now=NOW + 86400 + 1)


def test_the_verifier_refuses_revoked_tokens_even_from_its_cache():
    known = Revocations()
    known.mark_synced()
    verifier = TokenVerifier(PUBLIC, revocations=known)
    token, _ = TokenSigner(PRIVATE).sign("u1", "someone", OWNER, merchant_id="m1", session_id="s1")
    assert verifier.verify(token).session_id == "s1"  # verified, and now cached
    known.apply(revocation("u1", ["s1"], 900, "logout"))
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(token)
    assert refused.value.code == "token_revoked"


def test_a_process_that_does_not_yet_know_the_revocations_does_not_guess():
    known = Revocations()
    verifier = TokenVerifier(PUBLIC, revocations=known, sync_wait=0.05)
    token, _ = TokenSigner(PRIVATE).sign("u1", "someone", OWNER, merchant_id="m1", session_id="s1")
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as unknown:
        verifier.verify(token)
    assert unknown.value.code == "revocations_unknown" and time.monotonic() - started < 5
    known.mark_synced()
    assert verifier.verify(token).user_id == "u1"
