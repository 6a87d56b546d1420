"""What the tests share that is not a fixture: builders of test worlds, stacks and checks, imported by
name (`from support.server_world import build_world`). The fixtures themselves are in the conftest.py
files: tests/conftest.py for every part, tests/<part>/conftest.py for one part."""
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]     # the checkout
