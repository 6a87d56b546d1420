"""`cunbox firmware ...` (build, verify, keygen, provision) and `cunbox flash`."""
import os
import pathlib
import sys

import click

from firmware import update_image
from server.firmware_delivery import keys as keyfiles

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _public_keys(paths):
    """Public keys from --pubkey files, else from $CUNBOX_FW_PUBKEYS."""
    try:
        return keyfiles.load_public_keys(paths)
    except keyfiles.KeyFileError as exc:
        raise click.UsageError(str(exc)) from None


def _signing_key(path):
    try:
        return keyfiles.read_private_key(keyfiles.resolve_signing_key_path(path))
    except keyfiles.KeyFileError as exc:
        raise click.UsageError(str(exc)) from None


def _pubkey_option(help_text):
    return click.option("--pubkey", "pubkey_paths", multiple=True, type=click.Path(dir_okay=False),
                        help=help_text + " Repeat for several (default: $%s, ':'-separated)." % keyfiles.PUBKEYS_ENV)


@click.group()
def firmware():
    """Build, verify and provision locker firmware images."""


@firmware.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--public", "public_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the public key (default: PATH.pub).")
def keygen(path, public_path):
    """Create a new Ed25519 firmware signing key: PATH (private, mode 0600, for the build machine only)
    and its public key (for servers and boards). Never overwrites a file."""
    try:
        _seed, public, public_path = keyfiles.write_new_keypair(path, public_path)
    except FileExistsError as exc:
        raise click.ClickException("%s exists; refusing to overwrite a key" % (exc.args[0] if exc.args else path)) \
            from None
    click.echo("wrote private signing key %s (keep it secret and offline; it signs firmware)" % path)
    click.echo("wrote public key %s (for %s and provisioning)" % (public_path, keyfiles.PUBKEYS_ENV))
    click.echo(keyfiles.describe(public))


@firmware.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def pubkey(path):
    """Print the key id and public key of a signing key or public key file."""
    try:
        try:
            public = keyfiles.read_public_key(path)
        except keyfiles.KeyFileError:
            public = keyfiles.public_key(keyfiles.read_private_key(path))
    except keyfiles.KeyFileError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(keyfiles.describe(public))
    click.echo(keyfiles.public_key_text(public), nl=False)


# Where an image goes when -o is not given: under build/, which .gitignore keeps out of git.
DEFAULT_BUILD_DIR = os.path.join("build", "firmware")


@firmware.command()
@click.option("--version", "version", required=True, help="Release version MAJOR.MINOR.PATCH.")
@click.option("--family", default=None, help="Target board family.")
@click.option("--min-protocol", type=int, default=1, show_default=True,
              help="Lowest link protocol version the image can speak.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False), default=None,
              help="Ed25519 private signing key file (default: $%s)." % keyfiles.SIGNING_KEY_ENV)
@click.option("--root", type=click.Path(file_okay=False), default=str(REPO_ROOT), show_default=True,
              help="Repository holding firmware/ and protocol/.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Image file (default: build/firmware/cunbox-fw-VERSION.cbfw, a folder git ignores).")
def build(version, family, min_protocol, key_path, root, output):
    """Compile firmware/ and protocol/ with mpy-cross and pack a signed image."""
    from server.firmware_delivery import build as builder

    key = _signing_key(key_path)
    family = family or builder.DEFAULT_FAMILY
    try:
        image, manifest = builder.build_image(root, version, family, min_protocol, key)
    except (builder.BuildError, update_image.ImageError) as exc:
        raise click.ClickException(str(exc)) from None
    if not output:
        os.makedirs(DEFAULT_BUILD_DIR, exist_ok=True)
        output = os.path.join(DEFAULT_BUILD_DIR, "cunbox-fw-%s.cbfw" % version)
    tmp = output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(image)
    os.replace(tmp, output)
    click.echo("built %s: version %s, family %s, %d files, %d bytes, signed by key %s (mpy-cross: %s)" % (
        output, version, family, len(manifest["files"]), len(image),
        update_image.hexlify(update_image.key_id(keyfiles.public_key(key))), builder.mpy_cross_version()))


@firmware.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@_pubkey_option("Public key file a board trusts.")
@click.option("--family", default=None, help="Refuse unless the image targets this board family.")
@click.option("--current-version", default=None, help="Refuse unless the image is newer than this.")
@click.option("--allow-downgrade", is_flag=True, help="Accept an image not newer than --current-version.")
@click.option("--protocol-version", type=int, default=None, help="Refuse if the image needs a newer protocol.")
def verify(image, pubkey_paths, family, current_version, allow_downgrade, protocol_version):
    """Check IMAGE exactly as a board does; exit 1 naming the fault if anything is wrong."""
    keys = _public_keys(pubkey_paths)
    size = os.path.getsize(image)
    try:
        with open(image, "rb") as f:
            manifest = update_image.verify_image(f, size, keys)
        update_image.check_policy(manifest, family=family, current_version=current_version,
                             protocol_version=protocol_version, allow_downgrade=allow_downgrade)
    except update_image.ImageError as exc:
        click.echo("REFUSED %s: %s" % (image, exc), err=True)
        sys.exit(1)
    click.echo("OK %s: version %s, family %s, min protocol %d, %d files, %d bytes" % (
        image, manifest["version"], manifest["family"], manifest["min_protocol"], len(manifest["files"]), size))


@firmware.command()
@click.argument("port")
@click.option("--image", "image_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Signed image built by `cunbox firmware build`.")
@_pubkey_option("Public key file the board will trust for updates; the board gets all of them.")
@click.option("--address", type=int, required=True, help="Bus address of the board (1..247).")
@click.option("--compartments", type=int, required=True, help="Number of compartments the board drives.")
@click.option("--lock-type", required=True, type=click.Choice(["gpio", "kerong", "8a"]), help="Lock driver.")
@click.option("--wiring", "wiring_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON wiring template of this hardware model (pins, UARTs), see firmware/main.py.")
@click.option("--locker-id", default=None, help="Locker id shown in CONFIG_GET (e.g. LK-0001).")
@click.option("--board-key", "board_key_path", required=True, type=click.Path(dir_okay=False),
              help="The board's link key file (64 hex digits), as registered on the server.")
@click.option("--family", default=None, help="Board family (default: the image's).")
@click.option("--expect-uid", default=None, help="Refuse unless machine.unique_id() is this (hex).")
@click.option("--force", is_flag=True, help="Re-provision a board configured for another address or family.")
@click.option("--root", default="/", show_default=True, help="Board filesystem root.")
@click.option("--baud", type=int, default=115200, show_default=True)
def provision(port, image_path, pubkey_paths, address, compartments, lock_type, wiring_path, locker_id, board_key_path,
              family, expect_uid, force, root, baud):
    """Provision the board on PORT over USB (mpremote): firmware, config, keys; verified by read-back."""
    from server.firmware_delivery import provision as prov

    fleet_keys = _public_keys(pubkey_paths)
    try:
        board_key = keyfiles.read_key_file(board_key_path)
    except keyfiles.KeyFileError as exc:
        raise click.UsageError(str(exc)) from None
    with open(image_path, "rb") as f:
        image = f.read()
    try:
        if family is None:
            manifest, _plen = update_image.verify_signature(update_image.BytesReader(image), len(image), fleet_keys)
            family = manifest["family"]
        wiring = None
        if wiring_path:
            import json
            try:
                with open(wiring_path) as f:
                    wiring = json.load(f)
            except ValueError as exc:
                raise prov.ProvisionError("wiring template %s is not JSON: %s" % (wiring_path, exc)) from None
        config = prov.BoardConfig(address, compartments, lock_type, board_key, family, wiring, locker_id)
        prov.plan_files(image, fleet_keys, config)  # refuse a bad image before touching the board
        t = prov.open_transport(port, baudrate=baud)
        try:
            manifest, ident = prov.Provisioner(t, root=root, progress=click.echo).provision(
                image, fleet_keys, config, expect_uid=expect_uid, force=force)
        finally:
            prov.close_transport(t)
    except (prov.ProvisionError, update_image.ImageError) as exc:
        click.echo("REFUSED %s: %s" % (port, exc), err=True)
        sys.exit(1)
    click.echo("provisioned %s: firmware %s, address %d, %d compartments, lock %s, family %s"
               % (port, manifest["version"], address, compartments, lock_type, family))


def format_progress(p, width=30):
    """'[#########.....] 12.0/45.3 kB  1.20 kB/s  0:28 left' for a flasher.Progress."""
    frac = p.done / p.total if p.total else 1.0
    filled = int(frac * width)
    eta = p.eta
    left = "--:--" if eta is None else "%d:%02d" % (int(eta) // 60, int(eta) % 60)
    return "[%s%s] %.1f/%.1f kB  %.2f kB/s  %s left" % ("#" * filled, "." * (width - filled), p.done / 1000.0,
                                                         p.total / 1000.0, p.rate / 1000.0, left)


@click.command()
@click.argument("url")
@click.option("--address", type=int, required=True, help="Bus address of the board.")
@click.option("--image", "image_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--board-key", "board_key_path", required=True, type=click.Path(dir_okay=False),
              help="The board's link key file (64 hex digits).")
@click.option("--pubkey", "pubkey_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Public key file(s): check the image here first, as the board will.")
@click.option("--baud", type=int, default=9600, show_default=True)
@click.option("--allow-downgrade", is_flag=True, help="Let the board accept a version not newer than its own.")
def flash(url, address, image_path, board_key_path, pubkey_paths, baud, allow_downgrade):
    """Update the board at ADDRESS on URL (serial device or pyserial URL) over its own link."""
    from server.firmware_delivery import flasher
    from server.firmware_delivery.link import Link, LinkError

    try:
        board_key = keyfiles.read_key_file(board_key_path)
    except keyfiles.KeyFileError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        image = flasher.read_image(image_path, _public_keys(pubkey_paths) if pubkey_paths else None)
    except update_image.ImageError as exc:
        click.echo("REFUSED %s: %s" % (image_path, exc), err=True)
        sys.exit(1)
    last = [0.0]

    def show(p):
        now = p.clock()
        if now - last[0] >= 0.2 or p.done >= p.total:
            last[0] = now
            click.echo("\r" + format_progress(p), nl=False, err=True)
            if p.done >= p.total:
                click.echo("", err=True)

    link = Link(url, address, board_key, baud=baud)
    try:
        f = flasher.Flasher(link, image, allow_downgrade=allow_downgrade, on_progress=show,
                            log=lambda msg: click.echo(msg, err=True))
        version = f.run()
    except flasher.FlashError as exc:
        click.echo("\nFAILED: %s" % exc, err=True)
        sys.exit(1)
    except LinkError as exc:
        click.echo("\nFAILED: %s" % exc, err=True)
        sys.exit(1)
    finally:
        link.close()
    click.echo("board %d now runs %s" % (address, version))


@firmware.command("rollout-run")
@click.argument("rollout_id", type=int)
@click.option("--database-url", default=None, help="Default: $CUNBOX_DATABASE_URL.")
@click.option("--timeout", type=float, default=None, help="Stop waiting after this many seconds (the rollout "
              "goes on in the link; run this again to keep watching). Default: wait until it stops.")
@click.option("--poll", type=float, default=2.0, show_default=True, help="Seconds between progress checks.")
def rollout_run(rollout_id, database_url, timeout, poll):
    """Move a rollout on and wait for it. Queues the next boards' updates in the locker link's durable
    queue (canaries first, never a board with a door mid-operation, one board per locker) and prints
    progress until the rollout completes or pauses. The locker link's bus masters (`cunbox link`, or
    the server's in-process link) execute the updates over the bus they already hold; this command
    never opens a serial port. Exit 1 when the rollout paused (the reason is printed), 2 when
    --timeout passed first."""
    import time

    from server import config as server_config
    from server.db import Database
    from server.errors import NotFound
    from server.firmware_delivery import queue

    url = database_url or server_config.load()["DATABASE_URL"]
    db = Database(url)
    end = None if timeout is None else time.monotonic() + timeout
    seen = {}
    try:
        while True:
            try:
                p = queue.advance(db, rollout_id)
            except NotFound as exc:
                raise click.ClickException(str(exc)) from None
            for b in p["boards"]:
                key = (b["state"], b["attempts"])
                if seen.get(b["board_id"]) != key:
                    seen[b["board_id"]] = key
                    click.echo("board %-5d %-8s %-10s %s" % (b["board_id"], b["state"], b["version"] or "-",
                                                            b["last_error"] or ""))
            if p["state"] != "running" or (end is not None and time.monotonic() >= end):
                break
            time.sleep(poll)
    finally:
        db.dispose()
    click.echo("rollout %d (%s): %s %s" % (p["id"], p["version"], p["state"],
                                          " ".join("%s=%d" % kv for kv in sorted(p["totals"].items()))))
    if p["state"] == "paused":
        click.echo(p["pause_reason"], err=True)
        sys.exit(1)
    if p["state"] == "running":
        click.echo("still running; %s shows its progress" % p["status_url"], err=True)
        sys.exit(2)
