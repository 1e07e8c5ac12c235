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

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from typing_extensions import TypedDict

from oms.domain.errors import OutOfStock

#: How long a warm container reuses what it read of a sharded SKU's shards (placement's availability, reservation's
#: choice of shard). Every order reading every shard would put each order's reads on every shard's partition
#: (5,000 orders/s x 0.5 read units on each); reused for a second, a container reads them once a second. A stale
#: read only sends a buyer to a dry shard, whose conditional write refuses; the refusal path reads consistently.
SHARDED_READ_SECONDS = 1.0


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
    shards: tuple[int, ...] = ()  # a sharded row: the available units of each shard (index = shard number)
    shard_count: int = 1  # shards that take new reservations (``shards`` may list retired ones beyond)


@dataclass(frozen=True)
class Allocation:
    sku: str
    warehouse: str
    quantity: int  # units this warehouse ships for the line, held now or promised
    backordered: int = 0  # of them, units promised from incoming goods (not on the shelf yet)
    eta: str | None = None  # when the promised units are expected (the last one's batch)


MovementKind = Literal["COUNT", "INCOMING", "RECEIPT", "RESERVE", "BACKORDER", "BACKORDER_FILLED", "RELEASE",
                       "COMMIT", "RETURN", "WRITE_OFF", "REBALANCE"]


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


# -- shards of a hot SKU ------------------------------------------------------------------------------------------
#
# The stock of a (sku, warehouse) may be split into N shards: shard 0 is the warehouse's row itself (the header:
# expected arrivals, promises, receipts, returns), shards 1..N-1 are rows of their own. New reservations start at a
# shard chosen by the order among 1..N-1 and probe the others in turn, shard 0 last. An order's allocation records
# the units it took from shards 1..N-1 (``shards``); every other held unit of it is on shard 0. Its held units are
# laid out shard by shard (1, 2, ... then 0): parcels ship from the front of that layout, releases give back its
# tail, so every commit and release knows exactly which shard each unit returns to.

MAX_SHARDS = 64


def shard_key(sku: str, shard: int) -> str:
    """The partition key of a shard: the SKU itself for shard 0, ``<sku>#<n>`` for the others (a SKU has no
    ``#``)."""
    return sku if shard == 0 else f"{sku}#{shard}"


def probe_order(order_id: str, shard_count: int) -> list[int]:
    """The shards an order tries, in turn: from one chosen by a stable hash of the order id among 1..N-1, then
    the next ones round, shard 0 (the header) last. ``[0]`` for an unsharded row."""
    if shard_count < 2:
        return [0]
    selling = shard_count - 1
    start = int(hashlib.sha256(order_id.encode()).hexdigest()[:8], 16) % selling
    return [1 + (start + i) % selling for i in range(selling)] + [0]


def take_from_shards(quantity: int, available: Mapping[int, int], order: list[int]) -> dict[int, int] | None:
    """Where ``quantity`` units come from: the first shard in ``order`` that has them all, else the shards in
    ``order`` one after the other; None when together they have fewer."""
    for shard in order:
        if available.get(shard, 0) >= quantity:
            return {shard: quantity}
    taken: dict[int, int] = {}
    remaining = quantity
    for shard in order:
        take = min(max(0, available.get(shard, 0)), remaining)
        if take:
            taken[shard] = take
            remaining -= take
        if not remaining:
            return taken
    return None


def shard_layout(taken: Mapping[int, int], held: int) -> list[tuple[int, int]]:
    """An allocation's ``held`` units (on the shelf for it, shipped or not) shard by shard: the units it took from
    shards 1..N-1 in shard order, then the rest on shard 0 (units filled from a receipt, or taken there)."""
    layout: list[tuple[int, int]] = []
    remaining = held
    for shard in sorted(s for s in taken if s > 0):
        units = min(int(taken[shard]), remaining)
        if units > 0:
            layout.append((shard, units))
            remaining -= units
    if remaining > 0:
        layout.append((0, remaining))
    return layout


def shard_units(taken: Mapping[int, int], held: int, start: int, stop: int) -> dict[int, int]:
    """The shards of units ``start .. stop-1`` of an allocation's layout (``shard_layout``): a parcel ships
    ``[shipped, shipped + q)``, a release gives back ``[shipped, held)``."""
    found: dict[int, int] = {}
    position = 0
    for shard, units in shard_layout(taken, held):
        low, high = max(start, position), min(stop, position + units)
        if high > low:
            found[shard] = found.get(shard, 0) + high - low
        position += units
    return found


def shard_targets(free: int, shard_count: int, span: int, waiting: int) -> list[int]:
    """The available units each shard should hold when ``free`` units are spread: shard 0 keeps what orders waiting
    for goods can take (up to ``waiting``), shards 1..N-1 share the rest evenly (the first ones one more when it
    does not divide), retired shards (N..span-1) none. One shard: everything on shard 0."""
    size = max(span, shard_count, 1)
    targets = [0] * size
    if shard_count < 2:
        targets[0] = free
        return targets
    targets[0] = min(free, max(0, waiting))
    rest = free - targets[0]
    share, extra = divmod(rest, shard_count - 1)
    for shard in range(1, shard_count):
        targets[shard] = share + (1 if shard - 1 < extra else 0)
    return targets


def redistribute(on_hand: list[int], reserved: list[int], total: int, shard_count: int, waiting: int) -> list[int]:
    """The on-hand change of each shard (index = shard) that makes the warehouse's on-hand ``total`` and spreads
    its free units (``shard_targets``); the changes add up to ``total - sum(on_hand)`` exactly. ``ValueError``
    when ``total`` is below the units reserved."""
    if total < sum(reserved):
        raise ValueError(f"on_hand: {total} is below the {sum(reserved)} units reserved")
    targets = shard_targets(total - sum(reserved), shard_count, len(on_hand), waiting)
    size = len(targets)
    on_hand = [*on_hand, *([0] * (size - len(on_hand)))]
    reserved = [*reserved, *([0] * (size - len(reserved)))]
    return [reserved[i] + targets[i] - on_hand[i] for i in range(size)]


def rebalance_moves(available: list[int], shard_count: int, waiting: int) -> dict[int, int]:
    """The units to move between shards (shard -> change of its available units, adding up to 0) so that no
    selling shard is dry: a shard below half its even share is filled up to it, from the shards that hold the most
    beyond theirs (a retired shard, or shard 0 after receipts and returns, gives everything beyond its target).
    Nothing when every shard has at least half its share."""
    targets = shard_targets(sum(max(0, a) for a in available), shard_count, len(available), waiting)
    available = [*available, *([0] * (len(targets) - len(available)))]
    need = {s: targets[s] - available[s] for s in range(len(targets))
            if available[s] < targets[s] and (available[s] * 2 < targets[s] or s == 0)}
    if not need:
        return {}
    excess = sorted(((available[s] - targets[s], s) for s in range(len(targets)) if available[s] > targets[s]),
                    reverse=True)
    moves: dict[int, int] = {}
    for shard, units in sorted(need.items()):
        for i, (spare, donor) in enumerate(excess):
            if not units:
                break
            give = min(spare, units)
            if give <= 0:
                continue
            moves[donor] = moves.get(donor, 0) - give
            moves[shard] = moves.get(shard, 0) + give
            excess[i] = (spare - give, donor)
            units -= give
    return {s: d for s, d in moves.items() if d}
