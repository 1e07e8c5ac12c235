"""The orders table's indexes as the code keeps them: shards, the ops queue key a status change writes or removes,
the merge of the shards' pages and its cursor. Plain Python, no AWS."""

import hashlib
import random
from collections import Counter
from datetime import datetime

import pytest

from oms.adapters.orders_repo import (
    DAY_SHARDS,
    OPS_SHARDS,
    OPS_STATUSES,
    Change,
    _order_update,
    check_listable,
    index_keys,
    merge_shards,
    ops_queue,
    shard_of,
)
from oms.adapters.pagination import CursorCodec
from oms.domain.errors import ValidationFailed
from oms.domain.status import OrderStatus, ReturnStatus

IDS = [f"ord_{i:024x}" for i in range(4000)]


def test_a_shard_is_stable_and_the_orders_spread_evenly():
    # The first 4 bytes of the id's SHA-256, mod the shard count: the same in every process and release.
    assert [shard_of(i, OPS_SHARDS) for i in IDS[:50]] == [
        int(hashlib.sha256(i.encode()).hexdigest()[:8], 16) % OPS_SHARDS for i in IDS[:50]]
    counts = Counter(shard_of(i, OPS_SHARDS) for i in IDS)
    assert set(counts) == set(range(OPS_SHARDS))
    assert max(counts.values()) < 1.25 * len(IDS) / OPS_SHARDS  # no shard takes much more than its share


def test_only_the_statuses_ops_work_on_have_a_queue():
    assert {s.value for s in OPS_STATUSES} == {"PENDING", "ON_HOLD", "BACKORDERED", "PROCESSING",
                                              "PARTIALLY_SHIPPED", "SHIPPED"}
    for status in OrderStatus:
        queue = ops_queue(status.value, "ord_1")
        if status in OPS_STATUSES:
            assert queue == f"{status.value}#{shard_of('ord_1', OPS_SHARDS)}"
        else:
            assert queue is None
            with pytest.raises(ValidationFailed) as refused:
                check_listable(status)
            assert refused.value.field == "status" and "ON_HOLD" in refused.value.message


def test_a_new_order_carries_its_queue_and_its_placement_day():
    order = {"order_id": "ord_1", "status": "PENDING", "created_at": "2026-12-01T23:59:59.999Z"}
    assert index_keys(order) == {"ops_queue": f"PENDING#{shard_of('ord_1', OPS_SHARDS)}",
                                 "placed_day": f"2026-12-01#{shard_of('ord_1', DAY_SHARDS)}"}
    assert "ops_queue" not in index_keys({**order, "status": "DELIVERED"})


def _expression(change: Change, order_id: str = "ord_7") -> tuple[str, dict[str, str]]:
    params = _order_update(order_id, change).params()
    values = {name: value["S"] for name, value in params["ExpressionAttributeValues"].items() if "S" in value}
    names = params["ExpressionAttributeNames"]
    expression = params["UpdateExpression"]
    for placeholder in sorted(names, key=len, reverse=True):
        expression = expression.replace(placeholder, names[placeholder])
    return expression, values


def test_a_status_change_moves_the_order_in_the_ops_index_in_the_same_write():
    shard = shard_of("ord_7", OPS_SHARDS)
    expression, values = _expression(Change(status=OrderStatus.PROCESSING))
    assert "ops_queue = :" in expression and f"PROCESSING#{shard}" in values.values()
    # A terminal status leaves the index: REMOVE in the update that moves the status.
    expression, values = _expression(Change(status=OrderStatus.CANCELLED))
    assert expression.split("REMOVE ")[1].split(", ") == ["ops_queue"]
    assert "CANCELLED" in values.values()
    # A status written as a plain attribute (as some tests do) moves it too.
    assert f"SHIPPED#{shard}" in _expression(Change(sets={"status": "SHIPPED"}))[1].values()
    # No status, no index write (a keys-only index is not touched by the order's other updates).
    expression, _ = _expression(Change(sets={"risk": {"score": 1}}))
    assert "ops_queue" not in expression


def test_a_returns_change_never_gets_an_ops_queue():
    params = Change(status=ReturnStatus.APPROVED).to_update(datetime(2026, 1, 1), key="return_id").params()
    assert "ops_queue" not in params["ExpressionAttributeNames"].values()


def _paged(shards: list[list[str]], limit: int, newest_first: bool = True) -> list[str]:
    """Walk a listing the way ``list_in_status`` does: each shard's next ``limit`` keys past the cursor, merged."""
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        pages = []
        for keys in shards:
            ordered = sorted(keys, reverse=newest_first)
            if cursor is not None:
                ordered = [k for k in ordered if (k < cursor if newest_first else k > cursor)]
            pages.append((ordered[:limit], len(ordered) > limit))
        page, more = merge_shards(pages, limit, newest_first=newest_first)
        assert len(page) <= limit
        seen += page
        if not more:
            return seen
        cursor = page[-1]
    raise AssertionError("the listing never ended")


@pytest.mark.parametrize("seed", range(20))
def test_pages_merged_across_shards_are_the_whole_listing_in_order_without_duplicates_or_gaps(seed):
    rng = random.Random(seed)
    keys = [f"2026-12-0{rng.randint(1, 3)}T{rng.randint(0, 23):02d}:00:00.000Z#ord_{i}"
            for i in range(rng.randint(0, 120))]
    shards: list[list[str]] = [[] for _ in range(rng.choice([1, 3, OPS_SHARDS]))]
    for key in keys:
        rng.choice(shards).append(key)
    limit = rng.randint(1, 25)
    assert _paged(shards, limit) == sorted(keys, reverse=True)
    assert _paged(shards, limit, newest_first=False) == sorted(keys)


def test_a_shard_cut_short_is_never_skipped_over():
    # Shard a returned 2 keys and has more (DynamoDB stopped at 1 MB): nothing older than its last key can be
    # returned yet, whatever the other shards hold.
    page, more = merge_shards([(["k9", "k8"], True), (["k7", "k6", "k5"], False)], 3, newest_first=True)
    assert (page, more) == (["k9", "k8"], True)
    assert merge_shards([([], False), ([], False)], 5, newest_first=True) == ([], False)


def test_the_cursor_is_signed_for_its_queue():
    codec = CursorCodec(lambda: b"k" * 32)
    cursor = codec.encode("ops_queue:ON_HOLD", "2026-12-01T10:00:00.000Z#ord_1")
    assert codec.decode("ops_queue:ON_HOLD", cursor) == "2026-12-01T10:00:00.000Z#ord_1"
    for listing, bad in (("ops_queue:PENDING", cursor), ("ops_queue:ON_HOLD", (cursor or "")[:-3] + "AAA")):
        with pytest.raises(ValidationFailed) as refused:
            codec.decode(listing, bad)
        assert refused.value.field == "cursor"
