"""`make run`'s demo folder (instance/demo) is kept from one run to the next: the database, the
lockers' flash, the instance secret and firmware signing key, the clock's lead, and county.json,
the demo county's logins and tokens as seeding made them (only their hashes are in the database),
so the walkthrough can be printed again. `make run FRESH=1` (CUNBOX_DEMO_FRESH=1) starts afresh.
"""
import json
import os
import shutil

from sqlalchemy import func, select

from server import config

COUNTY = "county.json"
DATABASE = "cunbox.sqlite3"


def wanted_fresh(argv=None):
    """True when the person asked to start afresh: --fresh, or CUNBOX_DEMO_FRESH set to 1/yes/true."""
    if argv and "--fresh" in argv:
        return True
    return config.get("DEMO_FRESH")


def open_folder(root, fresh):
    """Keep the demo folder or empty it. Returns (county, why): the kept county (the seed's output),
    or None and why the demo starts afresh: asked to, nothing kept yet, or a folder without county.json
    (an older `make run`, which wiped its data on each start; half a demo is not worth keeping)."""
    county = None if fresh else _read_county(root)
    why = None
    if county is None:
        why = "as asked" if fresh else ("nothing kept was usable" if root.exists() else "nothing kept yet")
        if root.exists():
            shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    return county, why


def keep_county(root, seeded):
    """Write the seeded county's logins and tokens beside the database (the owner's alone)."""
    path = root / COUNTY
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(seeded, f, ensure_ascii=False)


def parcel_count(db):
    from server.models import Parcel
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(Parcel))


def _read_county(root):
    if not (root / DATABASE).exists():
        return None
    try:
        return json.loads((root / COUNTY).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
