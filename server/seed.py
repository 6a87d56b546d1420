"""`cunbox seed-demo`: a demo county — one township, three village stations with lockers, four
carriers with couriers, station operators, a maintainer, villager accounts. Prints the logins and
tokens so a person (or the demo runner) can use them at once."""
import json

import click
from sqlalchemy import func, select

from server.models import Station
from server.services import accounts, provisioning

CARRIERS = [("post", "中国邮政", "postal"), ("sf", "顺丰速运", "express"), ("zto", "中通快递", "express"),
            ("coop", "青山农合社", "coop")]
# Courier display names (what the header and a parcel's history show), per carrier, one per courier.
COURIERS = {"post": ("王师傅", "孙师傅"), "sf": ("李师傅",), "zto": ("周师傅",), "coop": ("吴大姐",)}
STATIONS = [("东村服务站", "青山镇东村村委会旁", 2, "东村站长 赵红"),
            ("西村服务站", "青山镇西村小卖部", 1, "西村站长 钱军"),
            ("南村服务站", "青山镇南村文化广场", 1, "南村站长 孙丽")]
VILLAGERS = ["王秀英", "李建国", "张桂兰", "刘德华", "陈美玲", "杨志强", "赵春梅", "黄小明"]


def seed_demo(db, serial_base_port=7001, password_prefix="demo"):
    """Load the demo county into an empty database; returns everything needed to use it."""
    out = {"stations": [], "carriers": [], "couriers": [], "operators": [], "maintainers": [], "lockers": [],
           "accounts": []}

    def fn(s):
        if s.scalar(select(func.count()).select_from(Station)):
            raise click.ClickException("the database already has stations; seed-demo only fills an empty one")
        town = provisioning.township(s, "青山镇", "安阳县")
        carriers = []
        for code, name, kind in CARRIERS:
            c = provisioning.carrier(s, code, name, kind)
            carriers.append(c)
            out["carriers"].append({"id": c.id, "code": code, "name": name})
            for n, display in enumerate(COURIERS[code], start=1):
                login = "courier-%s-%d" % (code, n)
                password = "%s-%s" % (password_prefix, login)
                user = accounts.create_user(s, "courier", login, password, display, carrier_id=c.id)
                out["couriers"].append({"login": login, "password": password, "carrier": code,
                                        "token": accounts.issue_token(s, user=user, label="seed")})
        port = serial_base_port
        phone = 13800138000
        for si, (name, address, n_lockers, keeper) in enumerate(STATIONS, start=1):
            st = provisioning.station(s, town, name, address, storage_hours=72, free_hours=72,
                                      recipient_fee_cents_per_day=50 if si == 1 else 0)
            out["stations"].append({"id": st.id, "name": name})
            for li in range(1, n_lockers + 1):
                lk = provisioning.locker(s, st, "%s%d号柜" % (name[:2], li), "socket://127.0.0.1:%d" % port,
                                         provisioning.standard_layout(boards=2, per_board=12))
                port += 1
                out["lockers"].append({"id": lk.id, "station_id": st.id, "name": lk.name,
                                       "serial_url": lk.serial_url,
                                       "token": accounts.issue_token(s, locker=lk, label="seed")})
            login = "operator-%d" % si
            password = "%s-%s" % (password_prefix, login)
            user = accounts.create_user(s, "operator", login, password, keeper,
                                        station_id=st.id)
            out["operators"].append({"login": login, "password": password, "station_id": st.id,
                                     "token": accounts.issue_token(s, user=user, label="seed")})
            for vi, vname in enumerate(VILLAGERS):
                phone += 1
                consent = vi != 3  # one household has not agreed to locker delivery
                acc = provisioning.account(s, st, vname, str(phone), consent=consent,
                                           height_preference="low" if vi == 2 else None,
                                           station_account_id="S%d-%03d" % (si, vi + 1))
                out["accounts"].append({"id": acc.id, "station_id": st.id, "name": vname, "phone": acc.phone,
                                        "consent": consent})
        login = "maintainer"
        password = "%s-%s" % (password_prefix, login)
        user = accounts.create_user(s, "maintainer", login, password, "县运维 陈工")
        out["maintainers"].append({"login": login, "password": password,
                                   "token": accounts.issue_token(s, user=user, label="seed")})
        return out

    return db.run(fn, retries=0)


@click.command("seed-demo")
@click.option("--json", "as_json", is_flag=True, help="print everything as one JSON object")
@click.option("--serial-base-port", default=7001, show_default=True, type=int,
              help="lockers get socket://127.0.0.1:<port> serial URLs counting up from here")
def seed_demo_cmd(as_json, serial_base_port):
    """Load the demo county (needs a migrated, empty database)."""
    from server import config, migrate
    from server.db import Database
    url = config.load()["DATABASE_URL"]
    if migrate.current_revision(url) is None:
        raise click.ClickException("the database at %s has no schema; run `cunbox db upgrade` first" % url)
    db = Database(url)
    try:
        out = seed_demo(db, serial_base_port)
    finally:
        db.dispose()
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo("Demo county loaded into %s" % url)
    click.echo("\nCouriers (Authorization: Bearer <token>):")
    for c in out["couriers"]:
        click.echo("  %-18s password %-26s carrier %-5s token %s" % (c["login"], c["password"], c["carrier"],
                                                                       c["token"]))
    click.echo("\nStation operators:")
    for o in out["operators"]:
        click.echo("  %-18s password %-26s station %-3d token %s" % (o["login"], o["password"], o["station_id"],
                                                                       o["token"]))
    for m in out["maintainers"]:
        click.echo("\nMaintainer: %s password %s token %s" % (m["login"], m["password"], m["token"]))
    click.echo("\nLockers (locker credentials for the link / boards):")
    for lk in out["lockers"]:
        click.echo("  locker %-3d station %-3d %-18s %s token %s" % (lk["id"], lk["station_id"], lk["name"],
                                                                      lk["serial_url"], lk["token"]))
    click.echo("\nVillagers who agreed to locker delivery, e.g.: %s" % ", ".join(
        "%s %s (station %d)" % (a["name"], a["phone"], a["station_id"]) for a in out["accounts"][:3]))
