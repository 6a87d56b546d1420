"""`make run`: start the whole product on one machine — an embedded SQLite database with the demo
county, simulated lockers on real pseudo-terminals, the locker link and the server — and print where
everything is and a two-line walkthrough (server/demo_stack.py does the work)."""
import sys

from server.demo_stack import run

if __name__ == "__main__":
    sys.exit(run())
