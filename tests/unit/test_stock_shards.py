"""Shards of a hot SKU (pure): which shard an order starts from and probes next, how a line is split over shards,
which shard each of an allocation's units is on (for parcels and releases), how units are spread and rebalanced."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms.domain.stock import (
    probe_order,
    rebalance_moves,
    redistribute,
    shard_key,
    shard_layout,
    shard_targets,
    shard_units,
    take_from_shards,
)


def test_shard_keys_put_shards_on_keys_of_their_own():
    assert shard_key("SKU-1", 0) == "SKU-1"
    assert shard_key("SKU-1", 3) == "SKU-1#3"


def test_an_order_starts_at_a_stable_shard_probes_every_other_and_the_header_last():
    order = probe_order("ord_abc", 5)
    assert order == probe_order("ord_abc", 5)  # stable across retries
    assert sorted(order[:-1]) == [1, 2, 3, 4] and order[-1] == 0
    starts = {probe_order(f"ord_{i}", 5)[0] for i in range(200)}
    assert starts == {1, 2, 3, 4}  # orders spread over the shards
    assert probe_order("ord_abc", 1) == [0]


def test_a_line_takes_one_shard_when_one_has_it_else_several_in_probe_order():
    assert take_from_shards(2, {1: 1, 2: 5, 3: 5}, [1, 2, 3, 0]) == {2: 2}
    assert take_from_shards(4, {1: 1, 2: 2, 3: 0, 0: 3}, [1, 2, 3, 0]) == {1: 1, 2: 2, 0: 1}
    assert take_from_shards(9, {1: 1, 2: 2}, [1, 2, 0]) is None


def test_a_dry_shard_sends_the_order_to_the_next_one():
    view = {1: 3, 2: 3, 3: 3}
    order = probe_order("ord_x", 4)
    first = take_from_shards(1, view, order)
    assert first == {order[0]: 1}
    view[order[0]] = 0  # found dry (its condition failed) or busy (a transaction conflict)
    assert take_from_shards(1, view, order) == {order[1]: 1}


def test_units_are_laid_out_shard_by_shard_with_shard_0_last():
    assert shard_layout({2: 3, 1: 2}, 7) == [(1, 2), (2, 3), (0, 2)]
    assert shard_layout({1: 2, 2: 3}, 3) == [(1, 2), (2, 1)]  # a cancelled rest: what shipped only
    assert shard_units({1: 2, 2: 3}, 5, 0, 3) == {1: 2, 2: 1}  # a parcel of 3 ships from the front
    assert shard_units({1: 2, 2: 3}, 5, 3, 5) == {2: 2}  # the release gives back the tail
    assert shard_units({1: 2}, 4, 1, 4) == {1: 1, 0: 2}  # 2 units filled from a receipt are on shard 0


@given(taken=st.dictionaries(st.integers(1, 6), st.integers(1, 5), max_size=4), extra=st.integers(0, 4),
       cuts=st.lists(st.integers(0, 30), max_size=3))
@settings(max_examples=60)
def test_parcels_and_release_together_return_every_unit_to_its_shard(taken, extra, cuts):
    held = sum(taken.values()) + extra
    bounds = sorted({0, held, *(min(c, held) for c in cuts)})
    total: dict[int, int] = {}
    for low, high in itertools.pairwise(bounds):
        for shard, units in shard_units(taken, held, low, high).items():
            total[shard] = total.get(shard, 0) + units
    expected = {**{s: u for s, u in taken.items() if u}, **({0: extra} if extra else {})}
    assert total == expected


def test_free_units_spread_evenly_and_shard_0_keeps_what_waiting_orders_can_take():
    assert shard_targets(10, 4, 4, 0) == [0, 4, 3, 3]
    assert shard_targets(10, 4, 6, 3) == [3, 3, 2, 2, 0, 0]  # retired shards 4 and 5 get nothing
    assert shard_targets(10, 1, 3, 0) == [10, 0, 0]


@given(on_hand=st.lists(st.integers(0, 20), min_size=1, max_size=6), data=st.data())
@settings(max_examples=80)
def test_redistribution_is_exact(on_hand, data):
    reserved = [data.draw(st.integers(0, units)) for units in on_hand]
    total = data.draw(st.integers(sum(reserved), sum(reserved) + 40))
    count = data.draw(st.integers(1, 8))
    waiting = data.draw(st.integers(0, 5))
    changes = redistribute(on_hand, reserved, total, count, waiting)
    assert sum(changes) == total - sum(on_hand)
    after = [*on_hand, *([0] * (len(changes) - len(on_hand)))]
    after = [a + c for a, c in zip(after, changes, strict=True)]
    held = [*reserved, *([0] * (len(changes) - len(reserved)))]
    available = [a - r for a, r in zip(after, held, strict=True)]
    assert min(available) >= 0 and sum(after) == total
    if count > 1:
        selling = available[1:count]
        assert max(selling) - min(selling) <= 1 and all(a == 0 for a in available[count:])


def test_redistribution_refuses_to_count_below_what_is_reserved():
    with pytest.raises(ValueError):
        redistribute([5, 5], [3, 3], 5, 2, 0)


@given(available=st.lists(st.integers(0, 20), min_size=2, max_size=8), data=st.data())
@settings(max_examples=80)
def test_rebalancing_moves_units_exactly_and_leaves_no_selling_shard_dry(available, data):
    count = data.draw(st.integers(2, len(available)))
    moves = rebalance_moves(available, count, 0)
    assert sum(moves.values()) == 0
    after = [a + moves.get(i, 0) for i, a in enumerate(available)]
    assert min(after) >= 0
    targets = shard_targets(sum(available), count, len(available), 0)
    assert all(after[s] * 2 >= targets[s] for s in range(1, count))


def test_a_balanced_row_is_left_alone():
    assert rebalance_moves([0, 3, 3, 2], 4, 0) == {}
    assert rebalance_moves([5, 0, 3, 2], 4, 0) == {0: -4, 1: 4}  # a receipt on shard 0 fills the dry shard
