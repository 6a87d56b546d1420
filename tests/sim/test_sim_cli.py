# `cunbox sim`: a person (stdin) or a program (control socket) acting on a running simulated locker.
import json
import socket
import subprocess
import sys
import time

from click.testing import CliRunner

from hardware_sim.cli import sim
from hardware_sim.hostclient import HostClient
from protocol import messages as m

CONTROL_PORT = 43017


def test_stdin_commands_act_and_bad_ones_are_refused():
    out = CliRunner().invoke(sim, ["--compartments", "3", "--transport", "tcp"],
                             input="force 1 2\nstate 1\njam 1 9\nnoise 2\nfrobnicate\nquit\n")
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    head = json.loads(lines[0])
    assert head["url"].startswith("socket://") and len(head["boards"]["1"]["key"]) == 32
    state = json.loads(next(ln for ln in lines if ln.startswith('{"address"')))
    assert state["compartments"][1]["door_open"] and not state["compartments"][0]["door_open"]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 3


def test_control_socket_and_serial_link_of_a_running_sim():
    proc = subprocess.Popen([sys.executable, "-c", "from server.cli import main; main()", "sim",
                             "--compartments", "4", "--transport", "tcp", "--lock-type", "kerong",
                             "--control-port", str(CONTROL_PORT), "--no-stdin"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        head = json.loads(proc.stdout.readline())
        keys = {int(a): bytes.fromhex(b["key"]) for a, b in head["boards"].items()}
        host = HostClient(head["url"], head["baud"], keys)
        ctl = socket.create_connection(("127.0.0.1", head["control_port"]), timeout=5)
        f = ctl.makefile("rw", encoding="utf-8", newline="\n")

        def say(cmd):
            f.write(cmd + "\n")
            f.flush()
            return f.readline().strip()

        assert say("put 1 3") == "ok"
        r = host.call(1, m.OPEN, {"compartment": 3, "reason": m.REASON_PICKUP, "reference": 5})
        assert r.ok and r.fields["result"] == m.OPEN_OPENED
        assert json.loads(say("state 1"))["compartments"][2]["pulses"] == 1
        time.sleep(0.6)  # the lock board's 500 ms pulse is over: a door closed now stays latched
        assert say("close 1 3") == "ok"
        end = time.monotonic() + 5
        while not host.call(1, m.STATUS).fields["compartments"][2] & m.ST_LOCKED:
            assert time.monotonic() < end
            time.sleep(0.05)
        assert say("quit") == "ok bye"
        host.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_lock_settings_and_the_lock_boards_own_settings_from_the_command_line(tmp_path):
    """--lock-setting goes into the board config's "locks" (Kerong IR sensors: occupancy from the board,
    no occupancy pins); --lock-board is what the simulated lock board itself is, whatever the config says;
    a malformed one is refused."""
    out = CliRunner().invoke(sim, ["--compartments", "4", "--transport", "tcp", "--lock-type", "kerong",
                                   "--lock-setting", "ir=true", "--lock-setting", "window_ms=300",
                                   "--lock-setting", "boards=0", "--lock-board", "busy_ms=200",
                                   "--dir", str(tmp_path)], input="quit\n")
    assert out.exit_code == 0, out.output
    cfg = json.loads(next(tmp_path.rglob("config.json")).read_text())
    assert cfg["locks"]["ir"] is True and cfg["locks"]["window_ms"] == 300 and cfg["locks"]["boards"] == [0]
    assert "occupancy" not in cfg
    bad = CliRunner().invoke(sim, ["--lock-type", "kerong", "--lock-setting", "ir"], input="quit\n")
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
    refused = CliRunner().invoke(sim, ["--lock-type", "kerong", "--transport", "tcp",
                                       "--lock-setting", "polarity=sideways"], input="quit\n")
    assert refused.exit_code == 1 and "did not boot" in refused.output and "polarity" in refused.output
