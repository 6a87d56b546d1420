"""Locker link benchmarks: end-to-end deposit and pickup latency at 9600 and 115200 baud (lines paced
at the real baud rate by the simulator), and how many lockers one link worker keeps polled at a
1-second status period (the simulated lockers of those steps run in other processes, see
lockers_per_worker). Every run is bounded (a few parcels, a few seconds per load step).

deposit: POST /api/v1/deposits round trip (it returns once the simulated door has opened).
pickup: code typed on the keypad -> door open, plus door shut -> the server records the pickup
(the villager's own time with the door open is left out). Reference: the wire time of the OPEN
request and reply at that baud, what the bus itself costs.
"""
import os
import statistics
import time

from protocol import messages as m
from protocol.frame import encode_frame

PARCELS = 6
SIM_PROCESSES = 2  # processes the simulated lockers of the capacity steps run in
CMD = "python -m bench bench_link"


def _pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def _open_wire_s(baud):
    key = b"k" * 16
    req = encode_frame(1, 1, m.OPEN, m.encode_payload(m.OPEN, {"compartment": 1, "reason": 2, "reference": 1}),
                       0, 1, key)
    rep = encode_frame(1, 1, m.OPEN, m.encode_payload(m.OPEN, {"compartment": 1, "result": 0, "detail": 0,
                                                               "event_seq": 1}, True), 1, 1, key)
    return (len(req) + len(rep)) * 10.0 / baud


def latency(report, baud):
    from server.demo.day import Day
    from server.demo.stack import Stack
    with Stack(lockers=1, boards=2, per_board=8, baud=baud, paced=True, status_period_s=1.0, wait_s=15,
               board_loop_ms=5) as st:
        day = Day()
        day.stack, day.db = st, st.db
        day._wait(day._all_online, what="boards online")
        lid = st.locker_ids[0]
        for i in range(PARCELS):
            pid = day.deposit(i, lid)
            if pid is not None:
                day.pickup(pid, by_qr=bool(i % 2))
    ref_ms = _open_wire_s(baud) * 1000
    cmd = "make bench (bench_link, %d parcels)" % PARCELS
    sec = "Locker link (end to end, HTTP -> serial -> simulated board)"
    if day.errors:
        report.add(sec, "errors at %d baud" % baud, len(day.errors), "errors", note="; ".join(day.errors[:3]))
    if day.deposit_ms:
        report.add(sec, "deposit p50 at %d baud" % baud, round(_pct(day.deposit_ms, 50), 1), "ms", ref_ms,
                   "OPEN request+reply wire time", cmd)
        report.add(sec, "deposit p95 at %d baud" % baud, round(_pct(day.deposit_ms, 95), 1), "ms", ref_ms,
                   "OPEN request+reply wire time", cmd)
    if day.pickup_ms:
        report.add(sec, "pickup p50 at %d baud" % baud, round(_pct(day.pickup_ms, 50), 1), "ms", 1000.0,
                   "status period", cmd)
        report.add(sec, "pickup p95 at %d baud" % baud, round(_pct(day.pickup_ms, 95), 1), "ms", 1000.0,
                   "status period", cmd)


def lockers_per_worker(report, steps=(8, 16, 32, 48, 64), window_s=10.0, sim_processes=SIM_PROCESSES):
    """Start K simulated lockers (one board each) and one worker at a 1 s status period; a step
    passes when every board got at least 90% of its polls in the window. The simulated lockers run
    in sim_processes other processes (hardware_sim.fleet) on the same cores, so the figure is the
    worker's own capacity, not a share of one interpreter lock with the boards."""
    from server.demo.stack import Stack
    best, tried = 0, 0
    sec = "Locker link (end to end, HTTP -> serial -> simulated board)"
    for k in steps:
        tried = k
        with Stack(lockers=k, boards=1, per_board=4, baud=115200, paced=True, status_period_s=1.0,
                   board_loop_ms=5, sim_processes=sim_processes) as st:
            end = time.monotonic() + 120
            while time.monotonic() < end and not _all_synced(st, k):
                time.sleep(0.2)  # first contact of every board: HELLO, TIME_SET, code sync, BOOT events
            time.sleep(2.0)
            before = {lid: mm.stats["polls"] for lid, mm in st.worker.masters.items()}
            timeouts0 = sum(mm.stats["timeouts"] for mm in st.worker.masters.values())
            cpu0 = time.process_time()
            time.sleep(window_s)
            cpu = (time.process_time() - cpu0) / window_s
            rates = [(mm.stats["polls"] - before.get(lid, 0)) / window_s for lid, mm in st.worker.masters.items()]
            timeouts = sum(mm.stats["timeouts"] for mm in st.worker.masters.values()) - timeouts0
        ok = len(rates) == k and min(rates) >= 0.9
        report.add(sec, "STATUS polls per board per second, %d lockers" % k, round(statistics.mean(rates), 2)
                   if rates else 0, "1/s", 1.0, "target (1 s period)", CMD,
                   note="min %.2f; link process CPU %.0f%% of one core; %d timeouts" % (
                       min(rates) if rates else 0, cpu * 100, timeouts))
        if not ok:
            break
        best = k
    report.add(sec, "lockers one link worker keeps polled at 1 s", best, "lockers", command=CMD, note=(
        "one worker process (with the idle HTTP server); the simulated boards (real firmware, a thread each, "
        "paced at 115200 baud) run in %d other processes on the same %d cores; largest step tried: %d"
        % (sim_processes, os.cpu_count() or 0, tried)))


def _all_synced(st, k):
    masters = list(st.worker.masters.values())
    return len(masters) == k and all(b.online and not b.needs_sync for mm in masters for b in mm.boards.values())


def beside_a_busy_thread(report, deposits=10):
    """Deposit latency while another thread of the server process computes without pause (drawing QR
    codes, as a page does), at CPython's default thread switch interval (5 ms) and at the link's
    (server/link/worker.py, 1 ms); reference: the same deposits with no busy thread. A bus master
    gives up the interpreter lock at every read, select() and SQL statement, and takes it back from a
    computing thread only when the switch interval runs out."""
    import sys
    import threading

    from server.demo.day import Day
    from server.demo.stack import Stack
    from server.link.worker import SWITCH_INTERVAL_S
    from server.services import qr
    sec = "Locker link (end to end, HTTP -> serial -> simulated board)"
    cmd = "python -m bench bench_link (beside_a_busy_thread, %d deposits each)" % deposits
    before = sys.getswitchinterval()
    p50 = {}
    try:
        with Stack(lockers=1, boards=2, per_board=8, baud=115200, status_period_s=1.0, wait_s=15,
                   board_loop_ms=5) as st:
            day = Day()
            day.stack, day.db = st, st.db
            day._wait(day._all_online, what="boards online")
            lid, n = st.locker_ids[0], 0
            for label, interval, busy in (("idle", SWITCH_INTERVAL_S, False), ("busy 5 ms", 0.005, True),
                                          ("busy 1 ms", SWITCH_INTERVAL_S, True)):
                sys.setswitchinterval(interval)
                stop = threading.Event()
                drawer = threading.Thread(target=_draw_qr_codes, args=(stop, qr), daemon=True)
                if busy:
                    drawer.start()
                day.deposit_ms = []
                for _ in range(deposits):
                    pid = day.deposit(n, lid)
                    n += 1
                    if pid is not None:
                        day.pickup(pid, by_qr=False)
                stop.set()
                if busy:
                    drawer.join()
                p50[label] = round(_pct(day.deposit_ms, 50), 1) if day.deposit_ms else None
    finally:
        sys.setswitchinterval(before)
    if day.errors:
        report.add(sec, "errors beside a busy thread", len(day.errors), "errors", note="; ".join(day.errors[:3]))
    if None in p50.values():
        return
    report.add(sec, "deposit p50 beside a busy thread, switch interval 5 ms (CPython's)", p50["busy 5 ms"], "ms",
               p50["idle"], "deposit p50 with no busy thread", cmd)
    report.add(sec, "deposit p50 beside a busy thread, switch interval 1 ms (the link's)", p50["busy 1 ms"], "ms",
               p50["idle"], "deposit p50 with no busy thread", cmd)


def _draw_qr_codes(stop, qr):
    k = 0
    while not stop.is_set():
        qr.svg(qr.payload(1, "%08d" % k))
        k += 1


def run(report):
    for baud in (9600, 115200):
        latency(report, baud)
    beside_a_busy_thread(report)
    lockers_per_worker(report)
