"""What of an order has shipped, what is still to ship and from where, and each parcel's share of the payment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms.domain.errors import Conflict, ValidationFailed


def allocations(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The reservation's allocations with their counters defaulted (orders reserved before backorders had none)."""
    return [{"backordered": 0, "shipped": 0, "eta": None, **a}
            for a in order.get("reservation", {}).get("allocations", [])]


def backordered_units(order: Mapping[str, Any]) -> int:
    if order.get("reservation", {}).get("state") not in (None, "HELD"):
        return 0
    return sum(a["backordered"] for a in allocations(order))


def line_progress(order: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per SKU: ``backordered_quantity``, ``expected_ship_date`` (None unless backordered), ``shipped_quantity``,
    ``cancelled_quantity`` (the rest of a partly shipped order, cancelled) and ``allocation``
    ([{warehouse, quantity}])."""
    progress: dict[str, dict[str, Any]] = {
        line["sku"]: {"backordered_quantity": 0, "expected_ship_date": None, "shipped_quantity": 0, "allocation": []}
        for line in order.get("lines", [])
    }
    held = order.get("reservation", {}).get("state") in (None, "HELD")
    for a in allocations(order):
        entry = progress.setdefault(a["sku"], {"backordered_quantity": 0, "expected_ship_date": None,
                                               "shipped_quantity": 0, "allocation": []})
        entry["allocation"].append({"warehouse": a["warehouse"], "quantity": a["quantity"]})
        entry["shipped_quantity"] += a["shipped"]
        if held and a["backordered"]:
            entry["backordered_quantity"] += a["backordered"]
            eta = a.get("eta")
            if eta and (entry["expected_ship_date"] is None or eta > entry["expected_ship_date"]):
                entry["expected_ship_date"] = eta
    for line in order.get("lines", []):
        allocated = sum(a["quantity"] for a in progress[line["sku"]]["allocation"])
        progress[line["sku"]]["cancelled_quantity"] = (
            line["quantity"] - allocated if "rest_cancelled" in order else 0)
    if any("lines" not in shipment for shipment in order.get("shipments", {}).values()):
        for line in order.get("lines", []):  # an order shipped whole before parcels recorded their lines
            progress[line["sku"]]["shipped_quantity"] = line["quantity"]
    return progress


def expected_ship_date(order: Mapping[str, Any]) -> str | None:
    dates = [p["expected_ship_date"] for p in line_progress(order).values() if p["expected_ship_date"]]
    return max(dates) if dates else None


def to_ship(order: Mapping[str, Any], warehouse: str | None = None) -> dict[tuple[str, str], int]:
    """Units on the shelf for the order and not shipped yet, by (sku, warehouse)."""
    left: dict[tuple[str, str], int] = {}
    for a in allocations(order):
        if warehouse is not None and a["warehouse"] != warehouse:
            continue
        units = a["quantity"] - a["backordered"] - a["shipped"]
        if units > 0:
            left[(a["sku"], a["warehouse"])] = left.get((a["sku"], a["warehouse"]), 0) + units
    return left


def pick(order: Mapping[str, Any], warehouse: str | None, requested: list[tuple[str, int]] | None
         ) -> dict[tuple[str, str], int]:
    """The units a shipment takes, by (sku, warehouse): ``requested`` lines (from ``warehouse``, else from wherever
    the order has them), or everything not shipped yet from ``warehouse`` (or from anywhere). Raises ``Conflict``
    naming the line when it asks for more than was ordered or than is waiting to ship there."""
    ready = to_ship(order, warehouse)
    if requested is None:
        if not ready:
            where = f" from {warehouse}" if warehouse else ""
            raise Conflict(f"nothing of order {order['order_id']} is waiting to ship{where}")
        return ready
    ordered = {line["sku"]: line["quantity"] for line in order.get("lines", [])}
    picked: dict[tuple[str, str], int] = {}
    for index, (sku, quantity) in enumerate(requested):
        if sku not in ordered:
            raise ValidationFailed(f"lines[{index}].sku", f"{sku!r} is not on this order")
        if quantity > ordered[sku]:
            raise Conflict(f"lines[{index}].quantity: {quantity} is more than the {ordered[sku]} ordered of {sku!r}")
        remaining = quantity
        available = sorted((wh, units) for (s, wh), units in ready.items() if s == sku)
        for wh, units in available:
            take = min(units, remaining)
            if take:
                picked[(sku, wh)] = take
                remaining -= take
        if remaining:
            where = f" at {warehouse}" if warehouse else ""
            waiting = sum(units for _, units in available)
            raise Conflict(f"lines[{index}].quantity: {quantity} of {sku!r} requested, {waiting} allocated{where} "
                           "and not shipped yet")
    return picked


def capture_share(total: int, subtotal: int, goods: int, captured: int, last: bool) -> int:
    """A parcel's share of the order total: its goods' share (shipping and tax pro rata, rounded down); the last
    parcel takes what is left, so the captures sum to the total exactly."""
    if last:
        return total - captured
    share = total * goods // subtotal if subtotal else 0
    return max(0, min(share, total - captured))
