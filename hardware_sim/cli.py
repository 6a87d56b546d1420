"""`cunbox sim`: start a simulated locker and act on it from stdin or a control socket."""
import json
import sys
import threading

import click

from hardware_sim.control import HELP, Controller, ControlServer
from hardware_sim.line import LineFaults
from hardware_sim.locker import SimLocker


def _pairs(values, what):
    out = []
    for v in values:
        try:
            b, c = v.split(":")
            out.append((int(b), int(c)))
        except ValueError:
            raise click.BadParameter("%s must look like BOARD:COMPARTMENT, got %r" % (what, v)) from None
    return out


@click.command("sim")
@click.option("--boards", default=1, show_default=True, help="Controller boards on the bus (addresses 1..N).")
@click.option("--compartments", default=8, show_default=True, help="Compartments per board.")
@click.option("--lock-type", type=click.Choice(["gpio", "kerong", "8a"]), default="gpio", show_default=True)
@click.option("--lock-kind", type=click.Choice(["solenoid", "motor"]), default="solenoid", show_default=True)
@click.option("--sizes", default="M", show_default=True, help="Compartment sizes, a letter each, repeated (SSML).")
@click.option("--chilled-zones", default=0, show_default=True, help="Chilled zones per board.")
@click.option("--transport", type=click.Choice(["pty", "tcp"]), default="pty", show_default=True)
@click.option("--port", default=0, show_default=True, help="TCP port for --transport tcp (0: any free port).")
@click.option("--baud", default=9600, show_default=True)
@click.option("--paced/--no-paced", default=False, show_default=True, help="Deliver bytes at the real baud rate.")
@click.option("--noise", default=0.0, show_default=True, help="Byte error rate on the line (0..1).")
@click.option("--jam", multiple=True, metavar="B:C", help="Start with this lock jammed.")
@click.option("--dead-sensor", multiple=True, metavar="B:C", help="Start with this door switch dead.")
@click.option("--clock-scale", default=1.0, show_default=True, help="Simulated seconds per real second.")
@click.option("--auto-close", type=int, default=None, help="People close each door this many ms after it opens.")
@click.option("--locker-id", default="LK-SIM", show_default=True)
@click.option("--keys", "keys_file", type=click.Path(exists=True, dir_okay=False),
              help='JSON file {"ADDRESS": "KEY HEX"}; default: deterministic demo keys.')
@click.option("--dir", "root", type=click.Path(file_okay=False), help="Keep board config and flash here.")
@click.option("--control-port", type=int, default=None, help="Also accept control commands on this TCP port.")
@click.option("--no-stdin", is_flag=True, help="Do not read commands from stdin (run until killed or quit).")
def sim(boards, compartments, lock_type, lock_kind, sizes, chilled_zones, transport, port, baud, paced, noise,
        jam, dead_sensor, clock_scale, auto_close, locker_id, keys_file, root, control_port, no_stdin):
    """Start a simulated locker running the real firmware, and act on it.

    Prints one JSON line (serial URL, baud, board addresses and keys, control port), then reads
    commands (type `help`) from stdin and, with --control-port, from a TCP socket.
    """
    keys = None
    if keys_file:
        with open(keys_file) as f:
            keys = {int(a): bytes.fromhex(k) for a, k in json.load(f).items()}
    if not 0 <= noise <= 1:
        raise click.BadParameter("--noise must be within 0..1")
    if not 1 <= boards <= 247 or not 1 <= compartments <= 128:
        raise click.BadParameter("--boards must be 1..247 and --compartments 1..128")
    if not sizes or any(ch not in "SMLX" for ch in sizes.upper()):
        raise click.BadParameter("--sizes takes the letters S, M, L and X (XL)")
    faults = LineFaults()
    faults.set_error_rate(noise)
    locker = SimLocker(boards=boards, compartments=compartments, lock_type=lock_type, lock_kind=lock_kind,
                       sizes=list(sizes.upper()), chilled_zones=chilled_zones, transport=transport, port=port,
                       baud=baud, paced=paced, faults=faults, keys=keys, locker_id=locker_id, root=root,
                       auto_close_ms=auto_close, clock_scale=clock_scale)
    for b, c in _pairs(jam, "--jam"):
        locker.jam(b, c)
    for b, c in _pairs(dead_sensor, "--dead-sensor"):
        locker.dead_sensor(b, c, 0)
    url = locker.start()
    controller = Controller(locker)
    done = threading.Event()
    server = None
    if control_port is not None:
        server = ControlServer(controller, port=control_port)
        server.on_quit = done.set
    click.echo(json.dumps({"url": url, "baud": baud, "locker_id": locker_id, "root": locker.root,
                           "boards": {str(a): {"key": k.hex(), "compartments": compartments,
                                               "lock_type": lock_type} for a, k in locker.keys.items()},
                           "control_port": server.port if server else None}), nl=True)
    sys.stdout.flush()
    try:
        if not no_stdin:
            click.echo("type `help` for commands", err=True)
            for line in sys.stdin:
                if line.strip() == "quit":
                    done.set()
                    break
                click.echo(controller.execute(line))
                sys.stdout.flush()
            else:
                if server is None:
                    done.set()
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
        locker.stop()


__all__ = ["sim", "HELP"]
