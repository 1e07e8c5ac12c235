"""Keep the KPI projection in step with the orders, and read the KPI report from it.

The stream handler names the orders that changed (an order's own change, or one of its returns'). Each is
projected from its current state (a consistent read of the order and its returns), never from the stream record,
so a record delivered twice, late or out of order projects the same thing. The new contribution and its
difference to the day's totals (only the family items of the order's shard that the difference moves,
``oms.adapters.kpis_repo``) are written in one transaction conditional on the fact's revision; a concurrent
writer makes it read and compute again.
"""

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from oms.adapters.kpis_repo import FactChanged, KpiRepository
from oms.adapters.orders_repo import OrdersRepository
from oms.adapters.returns_repo import ReturnsRepository
from oms.domain import kpis
from oms.domain.order import iso
from oms.logic.clock import now

ATTEMPTS = 5


def project(order_id: str, orders: OrdersRepository, returns: ReturnsRepository, store: KpiRepository,
            fresh_returns: Iterable[Mapping[str, Any]] = ()) -> bool:
    """Bring one order's contribution up to date; True when the totals moved.

    ``fresh_returns`` are return images newer than the ``by_order`` index may show yet (from the stream)."""
    for _ in range(ATTEMPTS):
        day, old, revision = store.fact(order_id)
        order = orders.get(order_id)
        if order is None:
            if day is None:
                return False  # never placed here (or gone before it was projected): nothing to count
            new: dict[str, int] = {}
        else:
            day = kpis.placement_day(order)
            by_id: dict[str, Mapping[str, Any]] = {str(r["return_id"]): r for r in returns.for_order(order_id)}
            by_id.update({str(r["return_id"]): r for r in fresh_returns})
            new = kpis.contributions(order, by_id.values())
        delta = kpis.difference(old, new)
        if not delta and revision:
            return False
        try:
            store.record(order_id, day, new, revision, delta)
            return bool(delta)
        except FactChanged:
            continue
    raise FactChanged(f"order {order_id}: the KPI fact kept changing under {ATTEMPTS} attempts")


def rebuild(first: date, last: date, orders: OrdersRepository, returns: ReturnsRepository,
            store: KpiRepository) -> dict[str, int]:
    """Project again every order placed from ``first`` to ``last``: after restoring a table, after records went to
    the projection's dead-letter queue, to count the orders placed before the projection existed, or to move the
    orders last projected into an older layout of the totals (their whole contribution is added again)."""
    seen = changed = 0
    for order_id in orders.placed_between(first.isoformat(), last.isoformat()):
        seen += 1
        changed += project(order_id, orders, returns, store)
    return {"orders": seen, "changed": changed}


def report(first: date, last: date, store: KpiRepository) -> kpis.KpiReport:
    return kpis.report(store.days(first.isoformat(), last.isoformat()), first, last, iso(now()))
