"""The audit log's hash chain (plumbing/audit.py), without a database: the bytes a link hashes, the
genesis, a chain continued across sealings, and what verify says about each kind of tampering.
tests/integration/test_audit_log.py checks the database's ``audit_seal`` builds the same links."""
import hashlib
from datetime import datetime, timedelta, timezone

from plumbing import audit

MERCHANT = "6f1c2a8e-0d4b-4e8f-9a37-2b5c1d0e9f11"
AT = datetime(2026, 5, 4, 10, 30, 0, 123456, tzinfo=timezone.utc)


def row(id, payload='{"amount": 5000}', **fields):
    return dict({"id": id, "merchant_id": MERCHANT, "source": "redemptions", "action": "insert",
                 "row_key": "r-%d" % id, "payload": payload, "recorded_at": AT}, **fields)


def sealed_chain(rows, head=None):
    links = {id: (seq, prev, link) for id, seq, prev, link in audit.seal_rows("redemption", head, rows)}
    return [dict(r, seq=links[r["id"]][0], prev_hash=links[r["id"]][1], hash=links[r["id"]][2]) for r in rows]


def test_the_canonical_bytes_are_the_fields_one_per_line_with_the_payload_last():
    assert audit.canonical_bytes("redemption", row(7), 3) == (
        b"vowrewards-audit-v1\nredemption\n" + MERCHANT.encode() + b"\n3\n7\nredemptions\ninsert\nr-7\n"
        b"1777890600123456\n{\"amount\": 5000}")


def test_a_timestamp_is_hashed_as_utc_microseconds_whatever_its_zone():
    elsewhere = AT.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert audit.canonical_bytes("redemption", row(7, recorded_at=elsewhere), 3) == \
        audit.canonical_bytes("redemption", row(7), 3)


def test_a_chain_starts_from_the_genesis_and_each_link_hashes_the_previous_one():
    first, second = sealed_chain([row(1), row(2)])
    assert audit.GENESIS == bytes(32)
    assert (first["seq"], first["prev_hash"]) == (1, audit.GENESIS)
    assert first["hash"] == hashlib.sha256(audit.GENESIS + audit.canonical_bytes("redemption", row(1), 1)).digest()
    assert (second["seq"], second["prev_hash"]) == (2, first["hash"])


def test_a_later_sealing_continues_the_chain_where_it_ended():
    at_once = sealed_chain([row(1), row(2), row(3)])
    earlier = sealed_chain([row(1)])
    later = sealed_chain([row(2), row(3)], head=(earlier[0]["seq"], earlier[0]["hash"]))
    assert earlier + later == at_once
    result = audit.verify_chain("redemption", MERCHANT, at_once)
    assert result["problem"] is None and result["checked"] == 3
    assert result["head"] == {"seq": 3, "hash": at_once[-1]["hash"].hex()}


def test_the_schema_is_part_of_the_link():
    [link] = sealed_chain([row(1)])
    assert audit.verify_chain("settlement", MERCHANT, [link])["problem"]["kind"] == "altered"


def problem(rows):
    return audit.verify_chain("redemption", MERCHANT, rows)["problem"]


def test_verify_names_an_edited_payload():
    rows = sealed_chain([row(1), row(2), row(3)])
    rows[1]["payload"] = '{"amount": 50}'
    assert (problem(rows)["seq"], problem(rows)["kind"]) == (2, "altered")
    assert audit.verify_chain("redemption", MERCHANT, rows)["checked"] == 1
    assert problem(rows[:2])["kind"] == "altered"  # the last row too


def test_verify_names_a_rewritten_hash_apart_from_an_edit():
    rows = sealed_chain([row(1), row(2), row(3)])
    rows[1]["hash"] = bytes(32)
    assert (problem(rows)["seq"], problem(rows)["kind"]) == (2, "hash_rewritten")


def test_verify_names_the_rows_deleted_as_a_gap():
    rows = sealed_chain([row(i) for i in range(1, 6)])
    found = problem(rows[:1] + rows[3:])
    assert (found["seq"], found["kind"]) == (4, "missing")
    assert "seq 2..3 are missing" in found["detail"]
    assert problem(rows[1:])["kind"] == "missing"  # the first one deleted


def test_verify_names_rows_reordered_or_rechained():
    rows = sealed_chain([row(1), row(2), row(3)])
    swapped = [rows[0], dict(rows[2], seq=2), dict(rows[1], seq=3)]
    assert (problem(swapped)["seq"], problem(swapped)["kind"]) == (2, "link_broken")
    assert problem([rows[0], rows[1], rows[1]])["kind"] == "reordered"


def test_a_newline_cannot_shift_one_field_into_another():
    [link] = sealed_chain([row(1, source="redemptions\ninsert", action="")])
    assert problem([link])["kind"] == "altered"
