"""The SLA clock: deadlines in business time, in a store's time zone.

A calendar is a time zone, business hours per weekday (several intervals a day: split shifts;
``None``: around the clock) and holidays (local dates). ``deadline(calendar, start, seconds, pauses)``
is the instant at which ``seconds`` of business time have passed since ``start``, not counting the
pauses (waiting on the requester or the logistics partner); ``None`` while a pause is still running.

The clock walks from one boundary to the next: an interval's start or end, midnight, or a change of
the zone's UTC offset (DST), found by bisection when the offset differs across a step. Within a step
nothing changes, so the answer is exact to the second (tests compare it with a minute-stepping
reference over thousands of random tickets, DST changes included).
"""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 86400
MAX_STEPS = 20000  # a calendar with (almost) no business time never answers: give up, no deadline
ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo = ZoneInfo("UTC")
    # weekday (0 = Monday) -> ((start second, end second), ...); None: around the clock
    hours: tuple = None
    holidays: frozenset = field(default_factory=frozenset)

    @classmethod
    def of(cls, timezone_name="UTC", hours=None, holidays=()):
        """From settings: ``hours={"mon": [["09:00", "13:00"], ["14:00", "18:00"]]}``."""
        try:
            tz = ZoneInfo(timezone_name or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("Not a known time zone: %s" % timezone_name)
        week = None
        if hours is not None:
            week = tuple(tuple(sorted((seconds(a), seconds(b)) for a, b in hours.get(day, ())
                                      if seconds(a) < seconds(b))) for day in DAYS)
            if not any(week):
                raise ValueError("Business hours must have some time in the week")
        days = frozenset(d if isinstance(d, date) else date.fromisoformat(d) for d in holidays or ())
        return cls(tz=tz, hours=week, holidays=days)

    # -- what the clock sees at an instant -----------------------------------------------
    def wall(self, instant):
        return instant.astimezone(self.tz).replace(tzinfo=None)

    def offset(self, instant):
        return instant.astimezone(self.tz).utcoffset()

    def working(self, instant):
        wall = self.wall(instant)
        if wall.date() in self.holidays:
            return False
        if self.hours is None:
            return True
        second = wall.hour * 3600 + wall.minute * 60 + wall.second
        return any(start <= second < end for start, end in self.hours[wall.weekday()])

    def next_boundary(self, instant):
        """The first instant after ``instant`` at which ``working`` may change."""
        wall = self.wall(instant)
        second = wall.hour * 3600 + wall.minute * 60 + wall.second
        marks = [DAY]
        if self.hours is not None:
            marks += [edge for interval in self.hours[wall.weekday()] for edge in interval if edge > second]
        step = timedelta(seconds=min(marks) - second) - timedelta(microseconds=wall.microsecond)
        candidate = instant + step
        if self.offset(candidate) == self.offset(instant):
            return candidate
        # the offset changed on the way (DST): the change itself is the boundary
        low, high = instant, candidate
        while high - low > ONE_SECOND:
            middle = low + (high - low) / 2
            middle = middle.replace(microsecond=0)
            if middle <= low:
                middle = low + ONE_SECOND
            if self.offset(middle) == self.offset(low):
                low = middle
            else:
                high = middle
        return high


def seconds(hhmm):
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def _aware(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)


def deadline(calendar, start, target_seconds, pauses=()):
    """When ``target_seconds`` of business time will have passed since ``start`` (``pauses``:
    ``(from, to)`` pairs, ``to`` None while it runs; then the answer is None)."""
    t = _aware(start).astimezone(timezone.utc)
    remaining = int(target_seconds)
    pauses = sorted((_aware(a), _aware(b)) for a, b in pauses or ())
    for _ in range(MAX_STEPS):
        paused = next(((a, b) for a, b in pauses if a <= t and (b is None or t < b)), None)
        if paused is not None:
            if paused[1] is None:
                return None
            t = paused[1].astimezone(timezone.utc)
            continue
        boundary = calendar.next_boundary(t)
        upcoming = [a for a, _ in pauses if t < a < boundary]
        if upcoming:
            boundary = min(upcoming).astimezone(timezone.utc)
        if calendar.working(t):
            span = (boundary - t).total_seconds()
            if remaining <= span:
                return t + timedelta(seconds=remaining)
            remaining -= span
        t = boundary
    return None


def policy_for(policies, priority, category):
    """The targets (minutes) for a ticket: the policy naming its priority and category, else its
    priority's, else the panel's default (first response within two hours)."""
    exact = [p for p in policies if p["priority"] == priority and p.get("category") == category]
    general = [p for p in policies if p["priority"] == priority and not p.get("category")]
    chosen = (exact or general or [DEFAULT_POLICY])[0]
    return dict(DEFAULT_POLICY, **{k: v for k, v in chosen.items() if v is not None})


DEFAULT_POLICY = {"first_response_minutes": 120, "next_response_minutes": None, "resolution_minutes": None}


def calendar_for(settings, store_id=None):
    """The calendar of a merchant's desk settings, in the store's time zone when it has its own."""
    zones = settings.get("store_timezones") or {}
    name = zones.get(str(store_id)) if store_id else None
    return Calendar.of(name or settings.get("timezone") or "UTC", settings.get("hours"), settings.get("holidays"))
