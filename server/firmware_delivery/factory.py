"""Boards as they leave the bench: the firmware image laid into their first slot and the firmware
public keys they trust written into their config, as `cunbox firmware provision` does over USB
(server/firmware_delivery/provision.py plan_files). The demo stack (server/demo/stack.py) provisions its
simulated boards this way with the demo's own signing key, so a release signed with that key and
rolled out from the maintainer's page updates them over the bus.
"""
import io
import os

from firmware import update_image
from server.firmware_delivery import build, keys

FACTORY_VERSION = "1.0.0"  # what a freshly provisioned demo board runs (releases must be newer)


class Provisioning:
    """What a board is provisioned with: the image (bytes) and the public keys (32 bytes each) it
    accepts updates signed with."""

    def __init__(self, image, pubkeys, version):
        self.image = image
        self.pubkeys = pubkeys
        self.version = version


def keep_or_create_keypair(path, comment="cunbox demo firmware signing key"):
    """The Ed25519 signing key at `path` and its public half at `path`.pub, made with keys.py's tooling
    the first time and kept (never overwritten) afterwards. Returns (seed, public key)."""
    pub_path = path + ".pub"
    have_private, have_public = os.path.exists(path), os.path.exists(pub_path)
    if not have_private and not have_public:
        seed, public, _ = keys.write_new_keypair(path, pub_path, comment=comment)
        return seed, public
    if have_private != have_public:
        raise keys.KeyFileError("signing key %s: only one of the pair (%s, %s) exists; remove it or restore "
                                "the other" % (path, path, pub_path))
    seed = keys.read_private_key(path)
    public = keys.read_public_key(pub_path)
    if keys.public_key(seed) != public:
        raise keys.KeyFileError("%s is not the public half of %s" % (pub_path, path))
    return seed, public


def factory_image(seed, public, cache_dir, version=FACTORY_VERSION, family=build.DEFAULT_FAMILY, root=None):
    """The signed image boards are provisioned with: built from this tree (server/firmware_delivery/build.py) the
    first time, then read from cache_dir (kept boards keep what they were provisioned with). A cached
    image that no longer verifies with `public` (the key was replaced) is built again."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, "factory-%s.img" % version)
    if os.path.exists(path):
        with open(path, "rb") as f:
            image = f.read()
        try:
            update_image.verify_image(io.BytesIO(image), len(image), [public])
            return image
        except update_image.ImageError:
            pass
    root = root or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    image, _manifest = build.build_image(root, version, family, 1, seed)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(image)
    os.replace(tmp, path)
    return image


def demo_provisioning(key_path, cache_dir, extra_pubkeys=()):
    """Keep or make the demo signing key, and what demo boards are provisioned with: the factory image
    signed by it and its public key (with `extra_pubkeys`, the keys the server trusts besides)."""
    seed, public = keep_or_create_keypair(str(key_path))
    image = factory_image(seed, public, str(cache_dir))
    pubkeys = [public] + [k for k in extra_pubkeys if k != public]
    return Provisioning(image, pubkeys, FACTORY_VERSION)
