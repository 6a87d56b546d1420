"""Choosing a compartment: the smallest size that fits; chilled for perishables (and ambient kept for
the rest while any fits); the recipient's height preference; then the least-worn door.

On PostgreSQL the candidate row is taken with FOR UPDATE SKIP LOCKED, so concurrent deposits take
different compartments instead of queueing on one; on SQLite the write transaction already holds the
database lock. Either way the UNIQUE parcels.active_compartment_id makes a double assignment
impossible at the database level.
"""
from sqlalchemy import case, select, update

from server.models import HEIGHT_BANDS, SIZES, Compartment


def sizes_from(size, strictly_larger=False):
    i = SIZES.index(size) + (1 if strictly_larger else 0)
    return SIZES[i:]


def _candidates(locker_id, sizes, perishable, height_preference):
    size_rank = case({s: i for i, s in enumerate(SIZES)}, value=Compartment.size)
    order = []
    if not perishable:
        order.append(Compartment.chilled)  # ambient first: keep chilled doors for produce
    order.append(size_rank)
    if height_preference in HEIGHT_BANDS:
        want = HEIGHT_BANDS.index(height_preference)
        distance = case({b: abs(i - want) for i, b in enumerate(HEIGHT_BANDS)}, value=Compartment.height_band)
        order.append(distance)
    order += [Compartment.open_count, Compartment.id]
    q = (select(Compartment)
         .where(Compartment.locker_id == locker_id, Compartment.state == "free", Compartment.door == "closed",
                Compartment.size.in_(sizes))
         .order_by(*order).limit(1))
    if perishable:
        q = q.where(Compartment.chilled.is_(True))
    return q


def any_free(session, locker_id, sizes, perishable):
    """Whether choose() would find a compartment now (reserves nothing)."""
    if not sizes:
        return False
    return session.scalar(_candidates(locker_id, sizes, perishable, None)) is not None


def choose(session, locker_id, sizes, perishable, height_preference=None):
    """Reserve and return the best free compartment among `sizes`, or None. Caller links the parcel."""
    if not sizes:
        return None
    q = _candidates(locker_id, sizes, perishable, height_preference).with_for_update(skip_locked=True,
                                                                                  key_share=True)
    for _ in range(3):
        comp = session.scalar(q)
        if comp is None:
            return None
        # Conditional update: only a compartment still free becomes reserved.
        res = session.execute(update(Compartment).where(Compartment.id == comp.id, Compartment.state == "free")
                              .values(state="reserved").execution_options(synchronize_session=False))
        if res.rowcount == 1:
            session.refresh(comp)
            return comp
    return None
