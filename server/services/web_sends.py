"""A villager books a send from the public web page.

sends.book_send is written for the station booking on a villager's behalf (operator role). From the
public page the sender is identified only by a phone number that is in the station's resident book,
so the drop-off code is never shown on the page: it goes by SMS to that phone (the notification
book_send writes), and whoever typed someone else's number gains nothing. The booking is recorded
with the actor "villager:account:<id>" so the audit trail says who asked.
"""
from sqlalchemy import select

from server.errors import NotFound
from server.models import Account, Locker
from server.services import accounts, sends
from server.services.principals import Principal


def book_for_villager(db, phone, locker_id, carrier_id, size, perishable=False, chilled_agreed=False):
    phone = accounts.normalise_phone(phone)
    with db.reading() as s:
        locker = s.get(Locker, locker_id)
        if locker is None:
            raise NotFound("no locker %s" % locker_id, field="locker_id")
        account = s.scalar(select(Account).where(Account.station_id == locker.station_id, Account.phone == phone,
                                                 Account.deleted_at.is_(None)).order_by(Account.id))
        if account is None:
            raise NotFound("no resident with phone %s at this locker's station; ask the station keeper to add "
                           "you to the resident book" % phone, code="no_account", field="phone")
        account_id, station_id = account.id, locker.station_id
    booker = Principal("operator", station_id=station_id, label="villager:account:%d" % account_id)
    out = sends.book_send(db, booker, account_id, locker_id, carrier_id, size, perishable=perishable,
                          chilled_agreed=chilled_agreed)
    return {"parcel_id": out["parcel"]["id"], "phone": phone, "expires_at": out["expires_at"]}
