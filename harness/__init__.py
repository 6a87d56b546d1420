"""Test and benchmark harness: scenario drivers and rigs that both tests/ and bench/ use.

- county.py           a seeded county of stations, lockers and villagers, and its invariants
- crash.py            kill the server mid-flow (SQLite, PostgreSQL) and check nothing was lost
- link_crash.py       the same for a link worker; sync_crash.py for a station sync run
- fuzz_rig.py         a board in memory for fuzzing (FuzzBoard, on hardware_sim/fakes.py); fuzz_targets.py the targets
- security_figures.py the figures SECURITY.md states, computed from the code that enforces them
- report.py           how bench figures are written (results.json / results.md)
Not part of the product (the wheel leaves it out); it imports the product, never the other way.
"""
