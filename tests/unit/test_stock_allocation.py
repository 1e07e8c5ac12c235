"""Allocation across warehouses (nearest first, one parcel when one warehouse can), promises against incoming goods
(first come, first served, dated by the batch the last unit falls in), and what a parcel ships and captures."""

import pytest

from oms.domain.errors import Conflict, OutOfStock
from oms.domain.shipping import capture_share, line_progress, pick
from oms.domain.stock import (
    Allocation,
    Position,
    Warehouse,
    allocate,
    parse_locations,
    promise_date,
    reschedule,
    shrink_incoming,
)

EAST, WEST, BERLIN = Warehouse("east", "US", "NJ"), Warehouse("west", "US", "CA"), Warehouse("berlin", "DE", "BE")
ALL = [EAST, WEST, BERLIN]


def shelves(**by_sku: dict[str, int]) -> dict[str, dict[str, Position]]:
    return {sku: {wh: Position(units) for wh, units in by_wh.items()} for sku, by_wh in by_sku.items()}


def test_one_warehouse_for_the_whole_order_and_the_nearest_of_those():
    stock = shelves(A={"east": 5, "west": 5, "berlin": 5}, B={"east": 1, "west": 3, "berlin": 2})
    assert allocate([("A", 1), ("B", 1)], stock, ALL, country="US", region="CA") == [
        Allocation("A", "west", 1), Allocation("B", "west", 1)]
    assert allocate([("A", 1), ("B", 1)], stock, ALL, country="DE") == [
        Allocation("A", "berlin", 1), Allocation("B", "berlin", 1)]
    # Same country before another country, even with less stock.
    assert allocate([("A", 1)], stock, ALL, country="US", region="TX")[0].warehouse in ("east", "west")


def test_express_splits_to_ship_what_is_near_from_near_standard_waits_for_one_parcel():
    stock = shelves(A={"berlin": 2, "east": 5}, B={"east": 5})
    lines = [("A", 1), ("B", 1)]
    assert allocate(lines, stock, ALL, country="DE") == [Allocation("A", "east", 1), Allocation("B", "east", 1)]
    assert allocate(lines, stock, ALL, country="DE", express=True) == [
        Allocation("A", "berlin", 1), Allocation("B", "east", 1)]


def test_a_line_splits_only_when_no_single_warehouse_has_it():
    stock = shelves(A={"east": 2, "west": 3})
    assert allocate([("A", 4)], stock, ALL, country="US", region="NJ") == [
        Allocation("A", "east", 2), Allocation("A", "west", 2)]
    # Each line from the nearest warehouse that has all of it: two parcels, no line split.
    stock = shelves(A={"east": 3, "west": 0}, B={"east": 0, "west": 3})
    assert allocate([("A", 2), ("B", 2)], stock, ALL, country="US", region="NJ") == [
        Allocation("A", "east", 2), Allocation("B", "west", 2)]


def test_out_of_stock_lists_every_short_sku_and_a_non_backorderable_sku_never_waits():
    stock = {"A": {"east": Position(2, promisable=50, incoming=((50, "2026-12-20"),))}, "B": {"east": Position(1)}}
    with pytest.raises(OutOfStock, match="A, C"):
        allocate([("A", 9), ("B", 1), ("C", 1)], stock, ALL, country="US")


def test_what_the_shelves_lack_is_promised_from_incoming_goods_with_their_date():
    stock = {"A": {"east": Position(2, promisable=10, backordered=5, incoming=((8, "2026-12-20"), (7, "2027-01-10")))}}
    [allocation] = allocate([("A", 6)], stock, ALL, country="US", backorderable=frozenset({"A"}))
    # 2 from the shelf, 4 promised: units 6..9 of the incoming (5 already promised) -> the second batch.
    assert allocation == Allocation("A", "east", 6, backordered=4, eta="2027-01-10")


def test_promises_are_first_come_first_served_and_dated_by_the_batch_of_their_last_unit():
    batches = [{"quantity": 10, "eta": "2026-12-20"}, {"quantity": 5, "eta": "2026-12-10"}]
    assert promise_date(batches, ahead=0, quantity=5) == "2026-12-10"
    assert promise_date(batches, ahead=3, quantity=5) == "2026-12-20"
    assert promise_date(batches, ahead=10, quantity=6) is None
    assert reschedule([("o1", 4), ("o2", 4)], [{"quantity": 6, "eta": "2027-01-05"}, {"quantity": 9,
                                                                                       "eta": "2027-02-01"}]) == {
        "o1": "2027-01-05", "o2": "2027-02-01"}
    assert shrink_incoming(batches, 7) == [{"quantity": 8, "eta": "2026-12-20"}]


def test_warehouse_locations_are_validated():
    assert parse_locations(["wh-east:us:nj"]) == [Warehouse("wh-east", "US", "NJ")]
    for bad in (["wh-east"], ["wh-east:XX:NJ"], ["a:US:NJ", "a:US:CA"]):
        with pytest.raises(ValueError):
            parse_locations(bad)


ORDER = {
    "order_id": "ord_1", "lines": [{"sku": "A", "name": "A", "quantity": 3, "unit_price": 1000, "line_total": 3000},
                                   {"sku": "B", "name": "B", "quantity": 1, "unit_price": 2000, "line_total": 2000}],
    "reservation": {"state": "HELD", "allocations": [
        {"sku": "A", "warehouse": "east", "quantity": 2}, {"sku": "A", "warehouse": "west", "quantity": 1},
        {"sku": "B", "warehouse": "west", "quantity": 1, "backordered": 1, "eta": "2027-01-05"}]},
    "shipments": {},
}


def test_a_parcel_takes_what_waits_at_its_warehouse_and_refuses_more_naming_the_line():
    assert pick(ORDER, "east", None) == {("A", "east"): 2}
    assert pick(ORDER, None, [("A", 3)]) == {("A", "east"): 2, ("A", "west"): 1}
    with pytest.raises(Conflict, match=r"lines\[0\].quantity: 5 is more than the 3 ordered"):
        pick(ORDER, None, [("A", 5)])
    with pytest.raises(Conflict, match=r"lines\[0\].quantity: 3 of 'A' requested, 2 allocated at east"):
        pick(ORDER, "east", [("A", 3)])
    with pytest.raises(Conflict, match="lines\\[0\\]"):
        pick(ORDER, "west", [("B", 1)])  # still backordered: not on the shelf


def test_lines_show_backorders_and_shipments():
    progress = line_progress(ORDER)
    assert progress["B"]["backordered_quantity"] == 1 and progress["B"]["expected_ship_date"] == "2027-01-05"
    assert progress["A"]["allocation"] == [{"warehouse": "east", "quantity": 2}, {"warehouse": "west", "quantity": 1}]


def test_parcel_captures_sum_exactly_to_the_total():
    total, subtotal = 10001, 7000  # shipping and tax make the total
    first = capture_share(total, subtotal, goods=3000, captured=0, last=False)
    second = capture_share(total, subtotal, goods=3000, captured=first, last=False)
    last = capture_share(total, subtotal, goods=1000, captured=first + second, last=True)
    assert (first, second) == (4286, 4286) and first + second + last == total
