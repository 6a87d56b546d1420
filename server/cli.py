"""The `cunbox` command line. Each area of the product registers its own subcommands here.

Subcommands are imported lazily, so `cunbox --help` stays fast and one area's heavy imports
(Flask, SQLAlchemy, pyserial) are paid only by the commands that need them.
"""
import importlib

import click

# name -> "module:attribute" of a click command or group.
SUBCOMMANDS = {
    "db": "server.migrate:db_cli",
    "demo": "server.demo.day:demo_cmd",
    "firmware": "server.firmware_delivery.cli:firmware",
    "flash": "server.firmware_delivery.cli:flash",
    "housekeeping": "server.serve:housekeeping_cmd",
    "link": "server.link.cli:link_cmd",
    "locker": "server.locker_cli:locker_cli",
    "seed-demo": "server.seed:seed_demo_cmd",
    "serve": "server.serve:serve",
    "sim": "hardware_sim.cli:sim",
    "station": "server.station_sync.cli:station_cli",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(SUBCOMMANDS))

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is not None or name not in SUBCOMMANDS:
            return cmd
        module_name, attr = SUBCOMMANDS[name].split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup)
@click.version_option(package_name="cunbox")
def main():
    """cunbox — parcel lockers for village delivery stations."""
