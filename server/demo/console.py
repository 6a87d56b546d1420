"""`make run`'s locker consoles: the simulator's line console (hardware_sim.control) for a person
standing at a locker, plus `clock`, the demo's time (server/demo/clock.py), which any locker's console
shows and moves for the whole demo."""

from hardware_sim.control import HELP, Controller, ControlServer
from server import config
from server.demo import clock as demo_clock

CLOCK_HELP = """  clock                     the demo's time (Beijing) and how far it runs ahead of the real time
  clock +72h                move the demo's time forward (+3d, +30m too) for every locker and the
                            server: storage periods end, fees grow, codes expire; never back"""


class DemoController(Controller):
    def __init__(self, locker, move_clock):
        super().__init__(locker)
        self.move_clock = move_clock  # callable(timedelta): moves the demo's clock forward by that much

    def cmd_help(self):
        return "\n%s\n%s\n  (%s)" % (HELP, CLOCK_HELP, demo_clock.describe())

    def cmd_clock(self, *span):
        if span:
            self.move_clock(demo_clock.parse_span("".join(span)))
        return demo_clock.describe()


def start_consoles(stack, move_clock):
    """A line console per simulated locker on loopback, for a person to act ($CUNBOX_CONSOLE_PORT:
    the first one's port, the others counting up; default: the OS picks)."""
    base = config.get("CONSOLE_PORT")
    return {lid: ControlServer(DemoController(sim, move_clock), port=base + i if base else 0)
            for i, (lid, sim) in enumerate(sorted(stack.sims.items()))}
