"""The demo, for trying and training: not part of the product, above all of it.

- stack.py    a whole county in one process: database, server, simulated lockers, link (tests, bench)
- run.py      what `make run` starts: the stack, locker consoles, housekeeping, and the walkthrough
- day.py      `cunbox demo`: a whole day of deposits, pickups and sends through the stack, measured
- data.py     the demo county's Chinese names, kept across runs unless asked to start afresh
- clock.py    the demo clock that runs ahead (`clock +72h` at a console), through server/clock.py
- console.py  the locker consoles (`nc 127.0.0.1 PORT`)
Nothing in the product imports this package (an import contract in .importlinter).
"""
