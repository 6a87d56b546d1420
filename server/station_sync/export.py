"""CSV export for stations without a system to push to: the same picture the push would give.

accounts.csv uses the import's column names (and no version column, so edited rows are not taken
for stale ones), so a keeper can edit it and import it back; files
are UTF-8 with a BOM so Excel on a Chinese Windows opens them correctly.
"""
import csv
import pathlib

from sqlalchemy import select

from server.clock import iso
from server.models import Carrier, LedgerLine, Parcel
from server.models.station_sync import StationAccountState
from server.station_sync.outbound import PARCEL_STATUS

ACCOUNT_COLUMNS = ("station_account_id", "name", "phone", "household", "consent", "consent_date", "consent_source",
                   "proxies", "accessibility", "deleted", "pending_locker_edits")


def export_station(db, station_id, directory):
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    with db.reading() as s:
        rows = s.scalars(select(StationAccountState).where(StationAccountState.station_id == station_id)
                         .order_by(StationAccountState.station_account_id)).all()
        written["accounts.csv"] = _write(out / "accounts.csv", ACCOUNT_COLUMNS, (_account_row(r) for r in rows))
        parcels = s.execute(select(Parcel, Carrier.code, StationAccountState.station_account_id)
                            .join(Carrier, Carrier.id == Parcel.carrier_id)
                            .outerjoin(StationAccountState, StationAccountState.account_id == Parcel.account_id)
                            .where(Parcel.station_id == station_id, Parcel.direction == "in",
                                   Parcel.state.in_(list(PARCEL_STATUS))).order_by(Parcel.id)).all()
        written["parcels.csv"] = _write(
            out / "parcels.csv", ("station_account_id", "tracking_number", "carrier", "status", "deposited_at",
                                  "released_at"),
            ((acc or "", p.tracking_number or "", code, PARCEL_STATUS[p.state], iso(p.deposited_at) or "",
              iso(p.released_at) or "") for p, code, acc in parcels))
        lines = s.execute(select(LedgerLine, Carrier.code, Parcel.tracking_number)
                          .join(Carrier, Carrier.id == LedgerLine.carrier_id)
                          .join(Parcel, Parcel.id == LedgerLine.parcel_id)
                          .where(LedgerLine.station_id == station_id).order_by(LedgerLine.id)).all()
        written["fees.csv"] = _write(
            out / "fees.csv", ("line_id", "at", "carrier", "tracking_number", "kind", "payer", "compartment_hours",
                               "amount_yuan"),
            ((ln.id, iso(ln.at), code, tn or "", ln.kind, ln.payer, ln.compartment_hours,
              "%d.%02d" % divmod(ln.amount_cents, 100)) for ln, code, tn in lines))
    return written


def _account_row(r):
    v = r.values
    c = v.get("consent") or {}
    return (r.station_account_id, v.get("name", ""), ";".join(v.get("phones", [])), v.get("household", ""),
            "yes" if c.get("given") else "no", c.get("date") or "", c.get("source") or "",
            ";".join("%s:%s" % (p["name"], p["phone"]) for p in v.get("proxies", [])), v.get("accessibility", "none"),
            "yes" if r.deleted else "",
            ",".join(sorted(r.pending or {})))


def _write(path, header, rows):
    n = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow(row)
            n += 1
    return n
