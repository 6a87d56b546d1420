"""Periodic work: give back expired reservations, flag overdue parcels, forget old idempotency keys,
move firmware rollouts on (boards that were busy get their update queued), deliver notifications.
It sits above every layer (it runs services and firmware delivery alike) and is started by
`cunbox serve` and the demo."""
from server.firmware_delivery import queue as fw_queue
from server.services import deposits, idempotency, link_commands, notify, overdue


def run_once(db, sms_adapter=None, now=None):
    out = {"late_opens_withdrawn": link_commands.withdraw_late_opens(db, now=now),
           "reservations_expired": deposits.expire_reservations(db, now=now),
           "parcels_overdue": overdue.flag_overdue(db, now=now),
           "idempotency_keys_expired": idempotency.expire(db, now=now),
           "firmware_commands_queued": fw_queue.advance_all(db)}
    if sms_adapter is not None:
        out["notifications_sent"] = notify.deliver_pending(db, sms_adapter)
    return out
