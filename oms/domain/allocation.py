"""Stock allocation: which warehouse ships how many units of each line."""

from dataclasses import dataclass

from oms.domain.errors import OutOfStock


@dataclass(frozen=True)
class Allocation:
    sku: str
    warehouse: str
    quantity: int


def allocate(lines: list[tuple[str, int]], available: dict[str, dict[str, int]]) -> list[Allocation]:
    """Allocate ``lines`` (sku, quantity) from ``available[sku][warehouse]``.

    Prefers one warehouse that can ship the whole order (one parcel); otherwise each line comes
    from the warehouse with the most available units, split across warehouses only when needed.
    Raises ``OutOfStock`` listing every short SKU.
    """
    short = [sku for sku, qty in lines if sum(available.get(sku, {}).values()) < qty]
    if short:
        raise OutOfStock("Not enough stock for " + ", ".join(sorted(short)))
    warehouses = sorted({wh for sku, _ in lines for wh in available.get(sku, {})})
    for warehouse in warehouses:
        if all(available[sku].get(warehouse, 0) >= qty for sku, qty in lines):
            return [Allocation(sku, warehouse, qty) for sku, qty in lines]
    allocations: list[Allocation] = []
    for sku, qty in lines:
        remaining = qty
        for warehouse, units in sorted(available[sku].items(), key=lambda item: (-item[1], item[0])):
            take = min(units, remaining)
            if take > 0:
                allocations.append(Allocation(sku, warehouse, take))
                remaining -= take
            if remaining == 0:
                break
    return allocations
