"""How fast can anyone guess a pickup code? Computed from the code that enforces the limits.

- The board's keypad/scanner (offline path): firmware.throttle.Throttle with the firmware defaults,
  driven by an attacker who types a wrong code the moment the lock-out ends, for a simulated week.
- The API (online path: a locker credential asking /codes/verify, or a pickup link): the per-locker
  cap (THROTTLE_PER_LOCKER wrong codes per THROTTLE_WINDOW_SECONDS), whatever the sources.

Codes are 8 uniformly random digits (10**8), unique among one locker's live codes. With N live codes
at a locker, a guesser who never repeats needs (10**8 + 1) / (N + 1) guesses on average.
"""
CODE_SPACE = 10 ** 8
API_PER_LOCKER = 30
API_WINDOW_S = 600
BOARD_GUESSES_PER_DAY = 129     # board_guesses_per_day(), pinned by tests/harness/test_harness_security.py
DAY_MS = 86400 * 1000


def board_guesses_per_day(days=7):
    from firmware.throttle import Throttle
    from hardware_sim.fakes import MemFlash
    t = Throttle(MemFlash(), 0)
    now = 0
    guesses = 0
    while now < days * DAY_MS:
        if t.locked(now):
            now += t.remaining_ms(now) + 1
            continue
        t.failure(now)
        guesses += 1
        now += 1000          # one second to type the next code (generous to the attacker)
    return round(guesses / days)


def api_guesses_per_day():
    return API_PER_LOCKER * 86400 // API_WINDOW_S


def expected_days(live_codes, per_day):
    return (CODE_SPACE + 1) / (live_codes + 1) / per_day


def chance_within(live_codes, per_day, hours):
    return min(1.0, per_day * hours / 24.0 * live_codes / CODE_SPACE)


def offline_hashes_per_second(seconds=0.5):
    """SHA-256(salt || 8 digits) per second on this machine, one core: how fast a stolen hash falls."""
    import hashlib
    import time
    salt = b"12345678"
    n = 0
    end = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        for i in range(1000):
            hashlib.sha256(salt + b"%08d" % i).digest()
        n += 1000
    return n / (time.perf_counter() - start)


def run(report):
    """Figures for bench/results.md (called from bench_security.py)."""
    board = board_guesses_per_day()
    api = api_guesses_per_day()
    sec = "Security: pickup-code guessing at the highest rate the throttles allow"
    cmd = "python -m bench security"
    report.add(sec, "board keypad/scanner: wrong codes per day (steady state)", board, "guesses/day", command=cmd)
    report.add(sec, "API, one locker (any number of sources): wrong codes per day", api, "guesses/day",
               command=cmd)
    for n in (1, 24, 48):
        report.add(sec, "board, %d live codes: expected time to guess one" % n, round(expected_days(n, board) / 365.25),
                   "years", command=cmd)
        report.add(sec, "API, %d live codes: expected time to guess one" % n, round(expected_days(n, api) / 365.25, 1),
                   "years", command=cmd)
        report.add(sec, "API, %d live codes: chance within a 72 h storage period" % n,
                   round(100 * chance_within(n, api, 72), 4), "%", command=cmd)
    rate = offline_hashes_per_second()
    report.add(sec, "offline: salted code hashes tried per second, one core of this machine", round(rate), "hash/s",
               command=cmd)
    report.add(sec, "offline: whole code space for one stolen (salt, hash)", round(CODE_SPACE / rate, 1), "s",
               command=cmd, note="why board flash and locker credentials are as sensitive as the codes")
