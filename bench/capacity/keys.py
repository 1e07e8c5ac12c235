"""Partition key values to patterns: what varies per order or SKU becomes a placeholder, what every order shares
(a status, the KPI ``day`` item) stays as it is."""

from __future__ import annotations

import re

ID_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?(?![0-9a-f])|[0-9A-HJKMNP-TV-Z]{26}"
                     r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z]{2,4}_[0-9a-f]{12,}"
                     r"|[0-9a-f]{24,32}|evt_\w+|1Z\w+|(?:ch|pi|re|cus|pm)_\w+|[\w.+-]+@[\w.-]+")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ORDER_ID = re.compile(r"ord_[0-9a-f]{12,}")


def key_pattern(key: str | None, skus: set[str], order_ids: set[str]) -> str:
    """A partition key value with what varies per order or SKU replaced: ``<order>``, ``<sku>``, ``<id>``,
    ``<date>``; what is left is shared by every order (``by_status`` ``PENDING``, ``day/<date>``)."""
    if key is None:
        return "<none>"
    for order_id in order_ids:
        key = key.replace(order_id, "<order>")
    for sku in sorted(skus, key=len, reverse=True):
        key = key.replace(sku, "<sku>")
    key = ORDER_ID.sub("<order>", key)
    return ID_LIKE.sub(lambda m: "<date>" if DATE.match(m.group(0)) else "<id>", key)


def can_be_shared(key: str | None) -> bool:
    """Only a literal value (a status, ``day``, perhaps with a date) can be every order's: an id is one entity's."""
    if key is None:
        return False
    pattern = key_pattern(key, set(), set())
    return not any(p in pattern for p in ("<id>", "<order>", "<none>"))
