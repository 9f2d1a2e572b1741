"""Which days a news file dropped under news/gdelt/ or news/feeds/ touches."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from assets.news.articles import SLOT_MARGIN, feed_name_claimed, read_feed_file
from assets.news.gdelt import SLOT_MINUTES, parse_slot_name


def slot_days(slot_at: datetime) -> set[date]:
    """The load windows a slot's rows can fall in: its own UTC day, and the day before while
    the slot is within SLOT_MARGIN of midnight (a GKG row carries its page's own publication
    time, which can precede the slot; the previous day's window reads those slots too)."""
    return {slot_at.date(), (slot_at - SLOT_MARGIN).date()}


def gdelt_days_touched(key: str, data: bytes = b"") -> set[date]:
    """The days a GDELT slot file touches (slot_days); the name says it, the bytes are not read."""
    slot = parse_slot_name(key)
    return slot_days(slot.slot_at) if slot is not None else set()


def feed_days_touched(key: str, data: bytes) -> set[date]:
    """The UTC publication days of a feed's dated items (undated items are quarantined by the
    run of any day, so they name none); nothing for a file that is not a feed."""
    if not feed_name_claimed(key):
        return set()
    try:
        feed = read_feed_file(data, key)
    except Exception:  # noqa: BLE001 - an unreadable feed is quarantined by the run, not here
        return set()
    return set(feed.rows["published_at"].dt.date().drop_nulls().to_list())


def new_slot_window(
    previous: datetime | None,
    latest: datetime,
    last_day: date,
    max_days: int,
    slot: timedelta = timedelta(minutes=SLOT_MINUTES),
) -> tuple[datetime, datetime] | None:
    """The new slots (first, newest) a GDELT follower should load now, or None.

    New slots are those after `previous` (the newest slot already requested) up to `latest`,
    but only those whose own day is a partition (up to `last_day`): a slot of a day that is not
    a partition yet waits, and is loaded once it is. A first look (`previous` None) takes only
    the newest slot it may load. A follower that was off for long catches up at most `max_days`
    days (older days are the schedules').
    """
    newest = min(latest, datetime.combine(last_day, time(0), tzinfo=UTC) + timedelta(days=1) - slot)
    first = newest if previous is None else previous + slot
    first = max(first, newest - timedelta(days=max_days) + slot)
    if (previous is not None and newest <= previous) or first > newest:
        return None
    return first, newest


def window_days(first: datetime, newest: datetime) -> tuple[date, date]:
    """The inclusive day range whose windows read the slots first..newest (see slot_days)."""
    return min(slot_days(first)), newest.date()
