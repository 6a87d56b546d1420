"""Village station account sync: keeps cunbox's villager accounts in step with each station's own book.

Modules, one job each:
- ``phones``     Chinese phone number normalisation and validation.
- ``fields``     the account fields of the contract and their value normalisers (consent, dates, ...).
- ``parsing``    CSV/XLSX exports -> validated records, with a row-by-row report (pure, no database).
- ``contract``   the station system's HTTP/JSON pages -> validated records (pure, no I/O).
- ``merge``      the merge engine: per-field last-writer-wins, conflicts, tombstones (pure functions).
- ``reasons``    why a row, a record or a conflict: a key and parameters, worded by whoever shows it;
                 ``english`` holds the English words (CLI, API; the pages' English side too).
- ``client``     the HTTP client that pages through a station system.
- ``simulator``  the reference station system (a small HTTP server) used by tests and the benchmark.
- ``store``/``runner``/``outbound``  the database side: checkpointed, resumable sync runs.
- ``cli``        ``cunbox station ...``; ``schedule`` the in-server periodic sync.
"""
