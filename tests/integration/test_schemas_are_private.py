"""No service reads another service's tables: PostgreSQL itself refuses."""
import psycopg2
import pytest

from plumbing import config as cfg
from tests.conftest import component_database_url


@pytest.mark.parametrize("component, foreign", [
    ("redemption", "settlement.journal_entries"),
    ("settlement", "redemption.vouchers"),
    ("support", "gateway.users"),
    ("notification", "support.tickets"),
    ("gateway", "redemption.redemptions"),
])
def test_a_service_role_cannot_read_another_schema(database_url, component, foreign):
    if not cfg.role_per_service():
        pytest.skip("the database admin may not create roles here; all services share one role")
    conn = psycopg2.connect(component_database_url(database_url, component))
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT 1 FROM %s LIMIT 1" % foreign)
    finally:
        conn.close()
