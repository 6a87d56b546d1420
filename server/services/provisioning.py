"""Creating the county's fixed data: townships, stations, lockers with boards and compartments,
carriers, staff, villager accounts. Used by seed-demo, tests and (later) the maintainer pages.
Functions take a session and run in the caller's transaction."""
from server.models import Account, Board, Carrier, Compartment, Locker, Station, Township
from server.services import accounts


def township(session, name, county):
    row = Township(name=name, county=county)
    session.add(row)
    session.flush()
    return row


def station(session, township_row, name, address, **policy):
    row = Station(township_id=township_row.id, name=name, address=address, **policy)
    session.add(row)
    session.flush()
    return row


def locker(session, station_row, name, serial_url, layout):
    """layout: [(board_address, [(size, chilled, height_band), ...]), ...]; lock channels count from 1."""
    row = Locker(station_id=station_row.id, name=name, serial_url=serial_url)
    session.add(row)
    session.flush()
    for address, compartments in layout:
        board = Board(locker_id=row.id, address=address)
        session.add(board)
        session.flush()
        for i, (size, chilled, height) in enumerate(compartments, start=1):
            session.add(Compartment(board_id=board.id, locker_id=row.id, index=i, size=size, chilled=chilled,
                                    height_band=height, state="free", door="closed", open_count=0))
    session.flush()
    return row


def standard_layout(boards=2, per_board=12):
    """A typical cabinet: small doors high and low, big ones in the middle, the last board chilled."""
    sizes = ["S", "S", "M", "M", "L", "L", "XL", "S", "M", "M", "L", "S"]
    heights = ["high", "high", "high", "middle", "middle", "middle", "low", "low", "low", "middle", "low", "high"]
    layout = []
    for b in range(boards):
        chilled = b == boards - 1 and boards > 1
        layout.append((b + 1, [(sizes[i % 12], chilled, heights[i % 12]) for i in range(per_board)]))
    return layout


def carrier(session, code, name, kind):
    row = Carrier(code=code, name=name, kind=kind)
    session.add(row)
    session.flush()
    return row


def account(session, station_row, name, phone, consent=True, height_preference=None, station_account_id=None):
    row = Account(station_id=station_row.id, name=name, phone=accounts.normalise_phone(phone),
                  consent_locker=False, height_preference=height_preference, station_account_id=station_account_id)
    session.add(row)
    if consent:
        accounts.set_consent(session, row, True, "seed")
    session.flush()
    return row
