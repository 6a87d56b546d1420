"""Business logic. Each public function takes the Database, runs one transaction (or a retried
one, see Database.run) and returns plain data; views and the locker link call these, never the
models directly. Helpers that take a `session` run inside the caller's transaction.
"""
