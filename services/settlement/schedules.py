"""Settlement periods on a schedule: each merchant's periods (daily, weekly or monthly) end at
midnight in its time zone, and the timer closes each one as it ends, a batch per currency."""
import logging
from datetime import timedelta

from plumbing.auth import Identity
from plumbing.errors import AppError
from plumbing.fields import utcnow
from services.settlement import batches, domain, storage

log = logging.getLogger(__name__)


def close_due(svc, limit=20):
    now = utcnow()
    system = Identity.system("settlement")
    for _ in range(limit):
        with svc.db.separately() as tx:
            [schedule] = storage.due_schedules(tx, now, limit=1) or [None]
            if schedule is None:
                return
            tz = schedule["time_zone"]
            # the period that has just ended (the schedule's moment is its end)
            period = domain.period_containing(schedule["frequency"],
                                              schedule["next_close_at"] - timedelta(microseconds=1), tz)
            end = domain.period_bounds(period, tz)[2]
            for currency in storage.unbatched_currencies(tx, schedule["merchant_id"], end):
                try:
                    batches.close_period(svc, str(schedule["merchant_id"]), period, currency, system, now)
                except AppError as error:  # e.g. another close took the entries first
                    log.warning("scheduled close of %s for merchant %s (%s): %s", period,
                                schedule["merchant_id"], currency, error)
            storage.advance_schedule(tx, schedule["merchant_id"],
                                     domain.next_period_end(schedule["frequency"], now, tz))
