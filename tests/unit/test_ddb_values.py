"""``oms.adapters.ddb`` encodes values exactly as boto3's TypeSerializer does, and reads them back unchanged."""

from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from oms.adapters.ddb import from_item, to_item, to_value

scalars = st.none() | st.booleans() | st.text(max_size=20) | st.integers(-(10**37), 10**37) | st.decimals(
    allow_nan=False, allow_infinity=False, places=2, min_value=-(10**20), max_value=10**20)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(min_size=1, max_size=8), inner, max_size=4), max_leaves=20)


@given(values)
def test_encoding_matches_boto3(value):
    assert to_value(value) == TypeSerializer().serialize(value)


@given(st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=6))
def test_items_round_trip(item):
    stored = {k: v for k, v in item.items() if v is not None}
    assert from_item(to_item(item)) == _plain(stored)


def _plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("bad", [1.5, float("inf"), 10**40, {1, 2}])
def test_what_dynamodb_cannot_store_is_refused(bad):
    with pytest.raises((TypeError, ArithmeticError)):
        to_value(bad)
