"""The locker link: one bus master per locker drives the boards over a pyserial URL.

- bus.py      BusMaster: the serial port, protocol.session.HostSession, polling, commands, events
- firmware_job.py  a firmware command of the queue, run by the bus master a slice at a time (Flasher)
- worker.py   LinkWorker: leases on lockers in the database, one BusMaster thread per locker held
- driver.py   the door seam: wakes the worker when the web side queues a command
- http.py     lets the HTTP request that queued a door command wait a bounded time for its outcome
- keys.py     per-board keys sealed with the server secret
- cli.py      `cunbox link`
Business rules (event store, command queue, code sync) live in server/services/link_*.py.
"""
