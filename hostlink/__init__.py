"""The host's end of the link: how a CPython host talks to a board over a serial port.

- exchange.py  Exchange, the one blocking request/reply loop on protocol.session.HostSession (inter-frame
               gap, retries on the session's deadline, REPLAY resync at most once), and result_fields,
               which turns a Result into reply fields or LinkError / MaybeExecuted / NakReply

Its users: the locker link's bus master (server/link/bus.py), `cunbox flash`'s port of its own
(server/firmware_delivery/link.py) and the simulator's test client (hardware_sim/hostclient.py).
It imports protocol/ only (no pyserial: it is handed an open port), so hardware_sim/ can use it
without importing server/, and protocol/ stays sans-IO for the boards (docs/adr/0010).
"""
