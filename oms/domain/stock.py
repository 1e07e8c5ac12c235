"""Stock positions, promises against incoming goods, and allocation across warehouses (no AWS).

A warehouse row of a SKU keeps four counters and its expected arrivals:

- ``on_hand``: units in the building; ``reserved``: units held for orders; ``available = on_hand - reserved``;
- ``incoming``: batches ``{quantity, eta}`` ordered from suppliers; ``backordered``: units of them already promised to
  waiting orders; ``promisable = incoming_total - backordered``.

``available`` and ``promisable`` are stored so that a conditional write can guard each (DynamoDB conditions cannot
add). A promise takes units from the batches in ETA order, first come first served, so an order's expected ship date
is the ETA of the batch its last promised unit falls in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from typing_extensions import TypedDict

from oms.domain.errors import OutOfStock


class IncomingBatch(TypedDict):
    quantity: int
    eta: str  # YYYY-MM-DD


@dataclass(frozen=True)
class Warehouse:
    name: str
    country: str  # ISO-3166 alpha-2
    region: str  # the state or province it ships from (compared with the address's region)


@dataclass(frozen=True)
class Position:
    """What one warehouse can give a SKU: units on the shelf now, and units still to promise from incoming goods."""

    available: int
    promisable: int = 0
    backordered: int = 0  # already promised (the queue ahead of a new promise)
    incoming: tuple[tuple[int, str], ...] = ()  # (quantity, eta) in ETA order


@dataclass(frozen=True)
class Allocation:
    sku: str
    warehouse: str
    quantity: int  # units this warehouse ships for the line, held now or promised
    backordered: int = 0  # of them, units promised from incoming goods (not on the shelf yet)
    eta: str | None = None  # when the promised units are expected (the last one's batch)


MovementKind = Literal["COUNT", "INCOMING", "RECEIPT", "RESERVE", "BACKORDER", "BACKORDER_FILLED", "RELEASE",
                       "COMMIT", "RETURN", "WRITE_OFF"]


def sorted_incoming(batches: list[IncomingBatch]) -> list[IncomingBatch]:
    """Batches in ETA order, same-day batches merged, empty ones dropped."""
    merged: dict[str, int] = {}
    for batch in batches:
        if batch["quantity"] > 0:
            merged[batch["eta"]] = merged.get(batch["eta"], 0) + batch["quantity"]
    return [{"quantity": q, "eta": eta} for eta, q in sorted(merged.items())]


def promise_date(incoming: list[IncomingBatch], ahead: int, quantity: int) -> str | None:
    """The ETA of the batch that covers units ``ahead + 1 .. ahead + quantity`` (first come, first served); None if
    the incoming goods do not cover them."""
    if quantity <= 0:
        return None
    last = ahead + quantity
    covered = 0
    for batch in sorted_incoming(incoming):
        covered += batch["quantity"]
        if covered >= last:
            return batch["eta"]
    return None


def shrink_incoming(incoming: list[IncomingBatch], received: int) -> list[IncomingBatch]:
    """The batches left after ``received`` units arrived: the earliest batches are the ones that came."""
    left: list[IncomingBatch] = []
    for batch in sorted_incoming(incoming):
        take = min(received, batch["quantity"])
        received -= take
        if batch["quantity"] > take:
            left.append({"quantity": batch["quantity"] - take, "eta": batch["eta"]})
    return left


def reschedule(waiting: list[tuple[str, int]], incoming: list[IncomingBatch]) -> dict[str, str | None]:
    """Each waiting promise's expected date against ``incoming``, in queue order: ``[(key, units), ...]`` ->
    ``{key: eta}`` (None when the incoming goods no longer cover it)."""
    dates: dict[str, str | None] = {}
    ahead = 0
    for key, units in waiting:
        dates[key] = promise_date(incoming, ahead, units)
        ahead += units
    return dates


def distance(warehouse: Warehouse, country: str, region: str | None) -> int:
    """0: same country and region; 1: same country; 2: elsewhere."""
    if warehouse.country != country:
        return 2
    return 0 if region and warehouse.region.upper() == region.upper() else 1


def allocate(lines: list[tuple[str, int]], stock: dict[str, dict[str, Position]], warehouses: list[Warehouse],
             *, country: str, region: str | None = None, backorderable: frozenset[str] = frozenset(),
             express: bool = False) -> list[Allocation]:
    """Which warehouse ships how many units of each ``(sku, quantity)`` line.

    1. One warehouse that has the whole order on its shelves, the nearest to the destination (one parcel). An
       express order takes it only if it is as near as the nearest warehouse with any of its goods: rather than one
       parcel from afar, it splits to ship what is near from near.
    2. Otherwise each line from the shelves of the nearest warehouses first, split only when one does not have it.
    3. What no shelf has, for a ``backorderable`` SKU, is promised from incoming goods: the nearest warehouse that
       can promise it all, else the one whose goods come first.
    Raises ``OutOfStock`` listing every SKU that cannot be covered.
    """
    by_name = {w.name: w for w in warehouses}

    def nearest(names: list[str]) -> list[str]:
        return sorted(names, key=lambda n: (_distance(by_name, n, country, region), n))

    def shelf(sku: str, wh: str) -> int:
        return stock.get(sku, {}).get(wh, Position(0)).available

    short = []
    for sku, quantity in lines:
        at = stock.get(sku, {}).values()
        coverable = sum(p.available for p in at)
        if sku in backorderable:
            coverable += sum(p.promisable for p in at)
        if coverable < quantity:
            short.append(sku)
    if short:
        raise OutOfStock("Not enough stock for " + ", ".join(sorted(short)))

    candidates = nearest(sorted({w.name for w in warehouses} | {wh for sku, _ in lines for wh in stock.get(sku, {})}))
    stocked = [wh for wh in candidates if any(shelf(sku, wh) > 0 for sku, _ in lines)]
    for wh in candidates:
        if all(shelf(sku, wh) >= quantity for sku, quantity in lines):
            if express and stocked and _distance(by_name, wh, country, region) > _distance(
                    by_name, stocked[0], country, region):
                break
            return [Allocation(sku, wh, quantity) for sku, quantity in lines]

    allocations: list[Allocation] = []
    for sku, quantity in lines:
        remaining = quantity
        positions = stock.get(sku, {})
        # Shelves: a warehouse that has the whole line first (nearest), then the nearest with any.
        whole = [wh for wh in nearest(list(positions)) if positions[wh].available >= remaining]
        order = whole[:1] + [wh for wh in nearest(list(positions)) if wh not in whole[:1]]
        taken: dict[str, int] = {}
        for wh in order:
            take = min(positions[wh].available, remaining)
            if take > 0:
                taken[wh] = take
                remaining -= take
            if remaining == 0:
                break
        promised: dict[str, tuple[int, str | None]] = {}
        if remaining:
            promised = _promise(sku, remaining, positions, nearest)
        for wh in nearest(list({*taken, *promised})):
            units, eta = promised.get(wh, (0, None))
            allocations.append(Allocation(sku, wh, taken.get(wh, 0) + units, units, eta))
    return allocations


def _distance(by_name: dict[str, Warehouse], name: str, country: str, region: str | None) -> int:
    return distance(by_name[name], country, region) if name in by_name else 3


def _promise(sku: str, quantity: int, positions: dict[str, Position], nearest: Callable[[list[str]], list[str]]
             ) -> dict[str, tuple[int, str | None]]:
    """Promise ``quantity`` units from incoming goods: one warehouse for all of it if one can (the nearest), else
    the warehouses whose goods come first."""
    order = nearest(list(positions))
    for wh in order:
        p = positions[wh]
        if p.promisable >= quantity:
            return {wh: (quantity, _eta(p, quantity))}
    promised: dict[str, tuple[int, str | None]] = {}
    remaining = quantity
    for wh in sorted(order, key=lambda w: (positions[w].incoming[0][1] if positions[w].incoming else "9999", w)):
        p = positions[wh]
        take = min(p.promisable, remaining)
        if take > 0:
            promised[wh] = (take, _eta(p, take))
            remaining -= take
        if remaining == 0:
            break
    if remaining:
        raise OutOfStock(f"Not enough stock for {sku}")
    return promised


def _eta(position: Position, quantity: int) -> str | None:
    batches: list[IncomingBatch] = [{"quantity": q, "eta": eta} for q, eta in position.incoming]
    return promise_date(batches, position.backordered, quantity)


def parse_locations(specs: tuple[str, ...] | list[str]) -> list[Warehouse]:
    """``name:COUNTRY:REGION`` entries (CDK context ``warehouseLocations``) as warehouses; ``ValueError`` naming the
    entry for anything else."""
    from oms.domain.countries import ISO_3166_ALPHA2

    warehouses: list[Warehouse] = []
    for spec in specs:
        parts = [part.strip() for part in spec.split(":")]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"{spec!r}: expected name:COUNTRY:REGION, e.g. wh-east:US:NJ")
        name, country, region = parts
        if country.upper() not in ISO_3166_ALPHA2:
            raise ValueError(f"{spec!r}: {country!r} is not an ISO-3166 alpha-2 country code")
        warehouses.append(Warehouse(name, country.upper(), region.upper()))
    names = [w.name for w in warehouses]
    if len(set(names)) != len(names):
        raise ValueError("a warehouse is listed twice")
    return warehouses


def check_warehouse(name: str | None, warehouses: tuple[str, ...]) -> None:
    """``ValidationFailed`` naming ``warehouse`` unless ``name`` (when given) is one of ``warehouses``."""
    from oms.domain.errors import ValidationFailed

    if name is not None and name not in warehouses:
        raise ValidationFailed("warehouse", f"unknown warehouse {name!r}; known: {', '.join(warehouses)}")
