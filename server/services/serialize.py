"""Plain-data views of models, returned by services (and so by the API)."""
from server.clock import iso


def compartment_json(c):
    return {"id": c.id, "locker_id": c.locker_id, "board_id": c.board_id, "index": c.index, "size": c.size,
            "chilled": c.chilled, "height_band": c.height_band, "state": c.state, "door": c.door}


def parcel_json(p):
    return {"id": p.id, "direction": p.direction, "carrier_id": p.carrier_id, "tracking_number": p.tracking_number,
            "station_id": p.station_id, "locker_id": p.locker_id, "size": p.size, "perishable": p.perishable,
            "state": p.state, "phone": p.phone, "compartment_id": p.active_compartment_id or p.compartment_id,
            "reserved_until": iso(p.reserved_until), "deposited_at": iso(p.deposited_at),
            "released_at": iso(p.released_at), "open_purpose": p.open_purpose, "created_at": iso(p.created_at)}
