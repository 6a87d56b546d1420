"""Read-only queries for the web pages, always scoped to the signed-in operator's station.

These shape data for one page each (cabinet drawings, tables, monthly sums); the state-changing work
stays in server/services/. Every function that takes `station_id` filters by it in SQL, so nothing
of another station can reach a template.
"""
import datetime

from sqlalchemy import func, or_, select

from server import clock
from server.clock import utcnow
from server.models import (
    Account,
    Alarm,
    Board,
    Carrier,
    Compartment,
    LedgerLine,
    Locker,
    Parcel,
    Station,
)

# A board not heard from for this long is drawn offline (a board that never reported is "unknown").
# No contact for this long: offline (the link writes an answering board's last contact every 15 s).
OFFLINE_AFTER = datetime.timedelta(seconds=45)
PAGE = 100


def station(session, station_id):
    return session.get(Station, station_id)


def board_status(board, now):
    if board.last_seen_at is None:
        return "unknown"
    return "offline" if now - board.last_seen_at > OFFLINE_AFTER else "online"


def display_state(compartment, parcel_state, board_state):
    """One colour per compartment: what the operator needs to act on wins."""
    if board_state == "offline":
        return "offline"
    if compartment.state in ("faulty", "disabled"):
        return compartment.state
    if parcel_state == "overdue":
        return "overdue"
    if compartment.state == "occupied" or parcel_state in ("in_locker", "awaiting_collection", "opening"):
        return "occupied"
    return compartment.state          # free / reserved


CABINET_ALARMS = ("unexpected_item", "parcel_still_inside", "parcel_missing", "occupancy_sensor_suspect",
                  "jammed_lock", "sensor_fault", "door_left_open", "forced_door")


def lockers(session, station_id, now=None):
    """The station's lockers as cabinets: boards with their compartments and display states."""
    now = now or utcnow()
    parcels = dict(session.execute(
        select(Parcel.active_compartment_id, Parcel.state)
        .where(Parcel.station_id == station_id, Parcel.active_compartment_id.is_not(None))).all())
    # What the compartment's sensors and doors say is wrong, shown on the compartment until acknowledged.
    alarms_at = {}
    for comp_id, kind in session.execute(
            select(Alarm.compartment_id, Alarm.kind).where(
                Alarm.station_id == station_id, Alarm.acknowledged_at.is_(None), Alarm.cleared_at.is_(None),
                Alarm.kind.in_(CABINET_ALARMS)).order_by(Alarm.id)):
        alarms_at.setdefault(comp_id, []).append(kind)
    out = []
    for locker in session.scalars(select(Locker).where(Locker.station_id == station_id).order_by(Locker.id)):
        boards = []
        for board in session.scalars(select(Board).where(Board.locker_id == locker.id).order_by(Board.address)):
            bstate = board_status(board, now)
            cpts = []
            for c in session.scalars(select(Compartment).where(Compartment.board_id == board.id)
                                     .order_by(Compartment.index)):
                cpts.append({"id": c.id, "index": c.index, "size": c.size, "chilled": c.chilled,
                             "door": c.door, "state": display_state(c, parcels.get(c.id), bstate),
                             "alarms": alarms_at.get(c.id, [])})
            boards.append({"id": board.id, "address": board.address, "status": bstate,
                           "firmware": board.firmware_version, "last_seen": board.last_seen_at,
                           "compartments": cpts})
        out.append({"id": locker.id, "name": locker.name, "boards": boards})
    return out


def state_counts(cabinets):
    counts = {}
    for locker in cabinets:
        for board in locker["boards"]:
            for c in board["compartments"]:
                counts[c["state"]] = counts.get(c["state"], 0) + 1
    return counts


def _parcel_row(p, carrier_name, compartment_label):
    return {"id": p.id, "tracking_number": p.tracking_number, "carrier": carrier_name, "phone": p.phone,
            "state": p.state, "direction": p.direction, "size": p.size, "perishable": p.perishable,
            "deposited_at": p.deposited_at, "created_at": p.created_at, "compartment": compartment_label,
            "released_at": p.released_at}


def compartment_label(session, compartment_id):
    """How a person finds a door: "东村1号柜 · 1-3" (locker, board-door), or "" when unknown."""
    return _compartment_labels(session, [compartment_id]).get(compartment_id, "")


def _compartment_labels(session, ids):
    ids = [i for i in ids if i]
    if not ids:
        return {}
    rows = session.execute(select(Compartment.id, Compartment.index, Board.address, Locker.name)
                           .join(Board, Board.id == Compartment.board_id)
                           .join(Locker, Locker.id == Compartment.locker_id)
                           .where(Compartment.id.in_(ids))).all()
    return {r[0]: "%s · %d-%d" % (r[3], r[2], r[1]) for r in rows}


def parcels(session, station_id, state=None, query=None, limit=PAGE, parcel_id=None):
    """The station's parcels, newest first, by state and/or a phone or tracking-number search."""
    stmt = (select(Parcel, Carrier.name).join(Carrier, Carrier.id == Parcel.carrier_id)
            .where(Parcel.station_id == station_id))
    if parcel_id is not None:
        stmt = stmt.where(Parcel.id == parcel_id)
    if state:
        stmt = stmt.where(Parcel.state == state)
    if query:
        q = query.strip().replace(" ", "").replace("-", "")
        if q.startswith("+86"):
            q = q[3:]
        like = "%" + q.replace("%", "").replace("_", "") + "%"
        stmt = stmt.where(or_(Parcel.phone.like(like), Parcel.tracking_number.ilike(like)))
    rows = session.execute(stmt.order_by(Parcel.id.desc()).limit(limit)).all()
    labels = _compartment_labels(session, [p.compartment_id or p.active_compartment_id for p, _ in rows])
    return [_parcel_row(p, name, labels.get(p.compartment_id or p.active_compartment_id)) for p, name in rows]


def parcel_state_counts(session, station_id):
    return dict(session.execute(select(Parcel.state, func.count()).where(Parcel.station_id == station_id)
                                .group_by(Parcel.state)).all())


def alarms(session, station_id, include_acknowledged=False, limit=PAGE):
    stmt = select(Alarm).where(Alarm.station_id == station_id)
    if not include_acknowledged:
        stmt = stmt.where(Alarm.acknowledged_at.is_(None))
    rows = session.scalars(stmt.order_by(Alarm.raised_at.desc()).limit(limit)).all()
    labels = _compartment_labels(session, [a.compartment_id for a in rows])
    return [{"id": a.id, "kind": a.kind, "raised_at": a.raised_at, "cleared_at": a.cleared_at,
             "acknowledged_at": a.acknowledged_at, "acknowledged_by": a.acknowledged_by,
             "compartment": labels.get(a.compartment_id), "detail": a.detail or {}} for a in rows]


def residents(session, station_id, query=None, limit=200):
    stmt = select(Account).where(Account.station_id == station_id, Account.deleted_at.is_(None))
    if query:
        like = "%" + query.strip().replace("%", "").replace("_", "") + "%"
        stmt = stmt.where(or_(Account.phone.like(like), Account.name.like(like),
                              Account.station_account_id.like(like)))
    return session.scalars(stmt.order_by(Account.name, Account.id).limit(limit)).all()


def ledger(session, station_id, month):
    """The month's ledger lines for the station and their sums per carrier."""
    start, end = clock.month_bounds(month)
    rows = session.execute(
        select(LedgerLine, Carrier.name, Parcel.tracking_number)
        .join(Carrier, Carrier.id == LedgerLine.carrier_id)
        .join(Parcel, Parcel.id == LedgerLine.parcel_id)
        .where(LedgerLine.station_id == station_id, LedgerLine.at >= start, LedgerLine.at < end)
        .order_by(Carrier.name, LedgerLine.at, LedgerLine.id)).all()
    lines, totals = [], {}
    for line, carrier, tracking in rows:
        lines.append({"at": line.at, "carrier": carrier, "tracking_number": tracking, "kind": line.kind,
                      "payer": line.payer, "compartment_hours": line.compartment_hours,
                      "amount_cents": line.amount_cents})
        # What the carrier owes the station; late fees paid by recipients are kept apart.
        t = totals.setdefault(carrier, {"carrier": carrier, "lines": 0, "compartment_hours": 0.0,
                                        "amount_cents": 0, "recipient_cents": 0, "by_kind": {}})
        t["lines"] += 1
        t["compartment_hours"] += line.compartment_hours
        if line.payer == "carrier":
            t["amount_cents"] += line.amount_cents
        else:
            t["recipient_cents"] += line.amount_cents
        t["by_kind"][line.kind] = t["by_kind"].get(line.kind, 0) + line.amount_cents
    return lines, sorted(totals.values(), key=lambda t: t["carrier"])


def ledger_months(session, station_id):
    """Beijing months that have ledger lines, newest first (computed in Python: portable across databases)."""
    seen = set()
    for (at,) in session.execute(select(LedgerLine.at).where(LedgerLine.station_id == station_id)):
        seen.add(clock.beijing_month(at))
    return sorted(seen, reverse=True)


ACTOR_ROLES = ("courier", "operator", "maintainer", "locker", "villager")


def actor_words(session, actor):
    """(catalogue key, name) for an actor written on a parcel's history ("courier:3", "link", "system",
    "villager:account:7"): the role in words and, where the trail names one, the person or locker."""
    from server.models import User
    role, _, ident = (actor or "").partition(":")
    if role in ("link", "board"):
        return "actor.locker", ""
    if role not in ACTOR_ROLES and role != "system":
        return "actor.other", ""
    name = ""
    if role in ("courier", "operator", "maintainer") and ident.isdigit():
        user = session.get(User, int(ident))
        name = user.name if user is not None else ""
    elif role == "locker" and ident.isdigit():
        locker = session.get(Locker, int(ident))
        name = locker.name if locker is not None else ""
    elif role == "villager" and ident.startswith("account:") and ident[8:].isdigit():
        account = session.get(Account, int(ident[8:]))
        name = account.name if account is not None else ""
    return "actor." + role, name
