"""The dashboard's counters: one row per merchant, store and category, kept by a trigger on tickets
(each change subtracts the old row's share and adds the new one's, in the same transaction), so the
KPIs over 100,000 tickets are a sum over a few dozen rows.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SHARE = """
    r.merchant_id, coalesce(r.store_id::text, ''), r.category,
    sign * (r.status IN ('open', 'processing'))::int,
    sign * (r.status IN ('open', 'processing') AND r.priority = 'critical')::int,
    sign * (r.status IN ('open', 'processing') AND r.overdue)::int,
    sign * (r.first_response_at IS NOT NULL)::int,
    sign * (r.first_response_at IS NOT NULL AND r.first_response_at <= r.ack_due_at)::int,
    sign * (r.status IN ('open', 'processing') AND r.first_response_at IS NULL AND r.overdue)::int,
    sign * coalesce(extract(epoch FROM r.first_response_at - r.created_at), 0),
    sign * (r.resolved_at IS NOT NULL)::int,
    sign * coalesce(extract(epoch FROM r.resolved_at - r.created_at), 0),
    sign * (r.rating IS NOT NULL)::int,
    sign * coalesce(r.rating, 0)
"""
COLUMNS = ("merchant_id, store_key, category, open, critical, overdue, responded, responded_in_time, "
           "late_unanswered, first_response_seconds, resolved, resolution_seconds, rated, rating_sum")
COUNTERS = COLUMNS.split(", ")[3:]


def upgrade():
    op.execute("""
    CREATE TABLE ticket_stats (
        merchant_id uuid NOT NULL,
        store_key text NOT NULL,
        category text NOT NULL,
        open bigint NOT NULL DEFAULT 0,
        critical bigint NOT NULL DEFAULT 0,
        overdue bigint NOT NULL DEFAULT 0,
        responded bigint NOT NULL DEFAULT 0,
        responded_in_time bigint NOT NULL DEFAULT 0,
        late_unanswered bigint NOT NULL DEFAULT 0,
        first_response_seconds double precision NOT NULL DEFAULT 0,
        resolved bigint NOT NULL DEFAULT 0,
        resolution_seconds double precision NOT NULL DEFAULT 0,
        rated bigint NOT NULL DEFAULT 0,
        rating_sum bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (merchant_id, store_key, category)
    );

    CREATE FUNCTION ticket_stats_add(r tickets, sign integer) RETURNS void LANGUAGE sql SET search_path FROM CURRENT AS $$
        INSERT INTO ticket_stats AS s (%(columns)s) VALUES (%(share)s)
        ON CONFLICT (merchant_id, store_key, category) DO UPDATE SET %(sums)s
    $$;

    CREATE FUNCTION ticket_stats_follow() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND (OLD.status, OLD.priority, OLD.overdue, OLD.first_response_at, OLD.resolved_at,
                OLD.rating, OLD.store_id, OLD.category, OLD.ack_due_at, OLD.created_at)
            IS NOT DISTINCT FROM (NEW.status, NEW.priority, NEW.overdue, NEW.first_response_at, NEW.resolved_at,
                NEW.rating, NEW.store_id, NEW.category, NEW.ack_due_at, NEW.created_at) THEN
            RETURN NULL;
        END IF;
        IF TG_OP <> 'INSERT' THEN PERFORM ticket_stats_add(OLD, -1); END IF;
        IF TG_OP <> 'DELETE' THEN PERFORM ticket_stats_add(NEW, 1); END IF;
        RETURN NULL;
    END $$;

    CREATE TRIGGER ticket_stats_follow AFTER INSERT OR UPDATE OR DELETE ON tickets
        FOR EACH ROW EXECUTE FUNCTION ticket_stats_follow();

    -- counts everything again from the tickets (here, and after a bulk load made without the trigger)
    CREATE FUNCTION ticket_stats_rebuild() RETURNS void LANGUAGE sql SET search_path FROM CURRENT AS $$
        DELETE FROM ticket_stats;
        INSERT INTO ticket_stats (%(columns)s)
        SELECT merchant_id, store_key, category, %(backfill)s
        FROM (SELECT %(share_1)s FROM tickets r) AS shares (%(columns)s)
        GROUP BY merchant_id, store_key, category;
    $$;
    SELECT ticket_stats_rebuild();
    """ % {"columns": COLUMNS, "share": SHARE, "share_1": SHARE.replace("sign * ", ""),
           "sums": ", ".join("%s = s.%s + EXCLUDED.%s" % (c, c, c) for c in COUNTERS),
           "backfill": ", ".join("sum(%s)" % c for c in COUNTERS)})


def downgrade():
    op.execute("""
    DROP TRIGGER ticket_stats_follow ON tickets; DROP FUNCTION ticket_stats_follow();
    DROP FUNCTION ticket_stats_add(tickets, integer); DROP FUNCTION ticket_stats_rebuild(); DROP TABLE ticket_stats;
    """)
