"""Notification outbox. Services add rows in their transaction; an SmsAdapter delivers them later.

The pickup notification names the locker, its address, the storage period, the code and the pickup
link (the locker rules require all five) and the fee policy after the free period. It also goes to the
recipient's proxies from the station book (kind "proxy_code"), saying whom the parcel is for. The clear code
lives in the outbox only until the message is sent; then it is blanked out.
"""
import pathlib
import re

from sqlalchemy import select

from server import clock, texts
from server.models import Account, Notification
from server.services.proxies import proxies_of

# codes (8 digits) and phone checks' one-time numbers (6) are blanked once the SMS is out
CODE_RE = re.compile(r"(?<!\d)(\d{8}|\d{6})(?!\d)")


def fee_policy(station):
    return {"free_hours": station.free_hours, "fee_cents_per_day": station.recipient_fee_cents_per_day}


def fee_text(policy):
    """What the recipient pays, in the SMS: nothing within the free period, then the daily fee (or nothing)."""
    if policy["fee_cents_per_day"] <= 0:
        return texts.text("sms.fee_free")
    return texts.text("sms.fee_after", hours=policy["free_hours"], yuan="%.2f" % (policy["fee_cents_per_day"] / 100.0))


def pickup_link(public_url, token, code):
    return "%s/p/%s?c=%s" % (public_url.rstrip("/"), token, code)


def pickup_message(session, parcel, code, link, expires_at, station, locker, carrier):
    # what the parcel is and where: one text, in the recipient's SMS and in their proxies'
    wording = texts.Wording()
    about = wording.text("sms.parcel", carrier=carrier.name, tracking=parcel.tracking_number or "",
                         locker=locker.name, address=station.address, code=code, hours=station.storage_hours,
                         deadline=clock.beijing_text(expires_at), link=link, fee=fee_text(parcel.fee_policy))
    row = _add(session, parcel, "pickup_code", wording.text("sms.pickup", parcel=about))
    _to_proxies(session, parcel, wording, about)
    return row


def _to_proxies(session, parcel, wording, about):
    """The same notice to everyone the station book lets collect for the recipient, saying whom the
    parcel is for (name and masked phone), so a neighbour collecting for an elderly villager gets the
    code too."""
    proxies = [p for p in proxies_of(session, parcel.account_id) if p["phone"] != parcel.phone]
    if not proxies:
        return
    account = session.get(Account, parcel.account_id)
    body = wording.text("sms.proxy", name=account.name, phone=mask_phone(parcel.phone), parcel=about)
    for p in proxies:
        session.add(Notification(parcel_id=parcel.id, phone=p["phone"], kind="proxy_code", body=body))


def mask_phone(phone):
    return phone[:3] + "****" + phone[-4:] if phone and len(phone) >= 7 else (phone or "")


def dropoff_message(session, parcel, code, expires_at, station, locker):
    body = texts.text("sms.dropoff", code=code, deadline=clock.beijing_text(expires_at), locker=locker.name,
                      address=station.address)
    return _add(session, parcel, "dropoff_code", body)


def phone_check_message(number, minutes, locker):
    """The one-time number that proves a villager's phone before a send is booked from the web page."""
    return texts.text("sms.phone_check", number=number, locker=locker.name, minutes=minutes)


def plain_message(session, parcel, kind, key, **params):
    """A short notice to the parcel's phone: the catalogue's text `key` (sms.*), in Chinese."""
    return _add(session, parcel, kind, texts.text(key, **params))


def _add(session, parcel, kind, body):
    row = Notification(parcel_id=parcel.id, phone=parcel.phone, kind=kind, body=body)
    session.add(row)
    return row


class SmsAdapter:
    def send(self, phone, body):
        raise NotImplementedError


class FileSmsAdapter(SmsAdapter):
    """Development adapter: appends each message to a file (a real SMS gateway goes behind the same API)."""

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def send(self, phone, body):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write("%s %s %s\n" % (clock.iso(clock.utcnow()), phone, body))


def deliver_pending(db, adapter, limit=100):
    """Send pending notifications; a message is marked sent (and its code blanked) only after send()."""
    with db.reading() as s:
        ids = s.scalars(select(Notification.id).where(Notification.state == "pending")
                        .order_by(Notification.id).limit(limit)).all()
    sent = 0
    for nid in ids:
        with db.transaction() as s:
            row = s.scalar(select(Notification).where(Notification.id == nid).with_for_update(key_share=True))
            if row.state != "pending":
                continue
            try:
                adapter.send(row.phone, row.body)
            except Exception:  # noqa: BLE001 - the gateway failed: keep the row, retry next round
                row.attempts += 1
                if row.attempts >= 5:
                    row.state = "failed"
                continue
            row.state = "sent"
            row.sent_at = clock.utcnow()
            row.body = CODE_RE.sub("********", row.body)
            sent += 1
    return sent
