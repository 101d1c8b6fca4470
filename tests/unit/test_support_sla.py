"""The SLA clock against a reference anyone can check by eye: walk the timeline minute by minute,
counting the minutes (or the part of the first one) that fall in business hours, outside holidays
and pauses, in the local time zone. Business hours, holidays and pauses start on whole minutes, so a
minute is all in or all out; the clock under test jumps from boundary to boundary instead."""
import os
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.support import sla

UTC = timezone.utc
# 250 random tickets per run keep make test quick (SUPPORT_SLA_EXAMPLES=20000 for a long soak)
EXAMPLES = int(os.environ.get("SUPPORT_SLA_EXAMPLES", "250"))
ZONES = ("UTC", "Africa/Johannesburg", "Europe/London", "America/New_York", "Australia/Sydney",
         "Asia/Kolkata", "America/Santiago", "Europe/Berlin")


def reference(calendar_spec, start, target, pauses):
    zone, hours, holidays = calendar_spec
    tz = ZoneInfo(zone)
    pauses = [(int(a.timestamp()), None if b is None else int(b.timestamp())) for a, b in pauses]

    def working(t):
        local = datetime.fromtimestamp(t, tz)
        if local.date() in holidays:
            return False
        if hours is None:
            return True
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in hours[local.weekday()])

    def paused(t):
        return any(a <= t and (b is None or t < b) for a, b in pauses)

    t, remaining = int(start.timestamp()), target
    for _ in range(60 * 24 * 120):
        nxt = t - t % 60 + 60  # the next whole minute
        if paused(t):
            if any(a <= t and b is None for a, b in pauses):
                return None
        elif working(t):
            if remaining <= nxt - t:
                return datetime.fromtimestamp(t + remaining, UTC)
            remaining -= nxt - t
        t = nxt
    raise AssertionError("no deadline within 120 days")


def as_settings(hours):
    if hours is None:
        return None
    return {day: [["%02d:%02d" % divmod(a, 60), "%02d:%02d" % divmod(b, 60) if b < 1440 else "24:00"]
                  for a, b in hours[i]] for i, day in enumerate(sla.DAYS)}


def day_hours(edges):
    """A day's intervals (minutes) from drawn edges: 0 to 3 (split shifts), sorted, not overlapping."""
    edges = sorted(set(edges))
    return tuple((edges[i], edges[i + 1]) for i in range(0, len(edges) - 1, 2))


@st.composite
def calendars(draw):
    zone = draw(st.sampled_from(ZONES))
    if draw(st.integers(0, 5)) == 0:
        hours = None
    else:
        hours = tuple(day_hours(draw(st.lists(st.integers(0, 1440), max_size=6))) for _ in range(7))
        if not any(hours):
            hours = hours[:1] + (((540, 1020),),) + hours[2:]
    holidays = frozenset(date(2026, 1, 1) + timedelta(days=d)
                         for d in draw(st.lists(st.integers(0, 364), max_size=8)))
    return zone, hours, holidays


# around the DST changes of 2026 (northern March/October, southern April/September) and anywhere
STARTS = st.one_of(
    st.datetimes(datetime(2026, 3, 6), datetime(2026, 4, 8)),
    st.datetimes(datetime(2026, 9, 1), datetime(2026, 11, 5)),
    st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1)),
).map(lambda d: d.replace(microsecond=0, tzinfo=UTC))


@st.composite
def pause_lists(draw, start):
    pauses, t = [], start.replace(second=0) + timedelta(minutes=1)
    for _ in range(draw(st.integers(0, 3))):
        a = t + timedelta(minutes=draw(st.integers(0, 600)))
        b = a + timedelta(minutes=draw(st.integers(1, 600)))
        pauses.append((a, b))
        t = b
    return pauses


def check(spec, start, target, pauses):
    zone, hours, holidays = spec
    calendar = sla.Calendar.of(zone, as_settings(hours), sorted(holidays))
    expected = reference(spec, start, target, pauses)
    assert sla.deadline(calendar, start, target, pauses) == expected


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=calendars(), start=STARTS, target=st.integers(1, 4 * 3600), data=st.data())
def test_deadlines_agree_with_the_minute_by_minute_reference(spec, start, target, data):
    check(spec, start, target, data.draw(pause_lists(start)))


def test_split_shifts_holidays_and_a_weekend():
    # Friday 16:00 in London (GMT), an hour left; Monday a holiday; Tuesday two shifts
    calendar = sla.Calendar.of("Europe/London", {"fri": [["09:00", "17:00"]],
                                                 "tue": [["09:00", "10:00"], ["14:00", "18:00"]]},
                               ["2026-03-30"])
    start = datetime(2026, 3, 27, 16, 0, tzinfo=UTC)
    # 1h Friday, then Tuesday 09-10 BST (08-09 UTC), then 30 min of the afternoon shift
    assert sla.deadline(calendar, start, int(2.5 * 3600)) == datetime(2026, 3, 31, 13, 30, tzinfo=UTC)


def test_the_spring_forward_night_is_an_hour_shorter():
    calendar = sla.Calendar.of("Europe/Berlin")  # around the clock, in Berlin
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # midnight local, 29 March: 02:00 -> 03:00
    assert sla.deadline(calendar, start, 4 * 3600) == start + timedelta(hours=4)
    night = sla.Calendar.of("Europe/Berlin", {d: [["00:00", "04:00"]] for d in sla.DAYS})
    # midnight to 04:00 local on the change is three real hours; the fourth is the next night
    assert sla.deadline(night, start, 3 * 3600) == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    assert sla.deadline(night, start, 3 * 3600 + 60) == datetime(2026, 3, 29, 22, 1, tzinfo=UTC)


def test_a_running_pause_stops_the_clock_and_a_finished_one_moves_it():
    calendar = sla.Calendar.of()
    start = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    assert sla.deadline(calendar, start, 3600, [(start + timedelta(minutes=10), None)]) is None
    paused = [(start + timedelta(minutes=10), start + timedelta(minutes=40))]
    assert sla.deadline(calendar, start, 3600, paused) == start + timedelta(minutes=90)


def test_policies_pick_priority_and_category_then_the_two_hour_default():
    policies = [{"priority": "high", "category": None, "first_response_minutes": 60},
                {"priority": "high", "category": "item", "first_response_minutes": 30, "resolution_minutes": 600}]
    assert sla.policy_for(policies, "high", "item")["first_response_minutes"] == 30
    assert sla.policy_for(policies, "high", "order")["first_response_minutes"] == 60
    assert sla.policy_for(policies, "low", "order") == sla.DEFAULT_POLICY
    assert sla.DEFAULT_POLICY["first_response_minutes"] == 120


def test_a_calendar_refuses_an_unknown_zone_and_a_week_without_hours():
    with pytest.raises(ValueError):
        sla.Calendar.of("Mars/Olympus")
    with pytest.raises(ValueError):
        sla.Calendar.of("UTC", {"mon": []})
