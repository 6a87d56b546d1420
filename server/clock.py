"""Time in one place: naive UTC datetimes in the database, unix seconds on the wire to boards."""
import datetime

UTC = datetime.timezone.utc


def utcnow():
    return datetime.datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def unix(dt):
    return int(dt.replace(tzinfo=UTC).timestamp())


def iso(dt):
    return None if dt is None else dt.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
