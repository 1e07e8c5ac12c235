"""Measured DynamoDB capacity units, Lambda invocations and API requests, inside the local stack's process.

``install(path)`` wraps moto's DynamoDB request handler and the local stack's metric shipper so that, while moto's
request recorder is on (``/moto-api/recorder/start-recording``), each DynamoDB request appends what it consumed to
``path`` (JSON lines): the table's and each global index's write and read units, from the sizes of the item before
and after the request (AWS's item-size rules, 1 KB per write unit, 4 KB per read unit, twice in a transaction, half
for an eventually consistent read; an index is written once when the projected item changes and twice when its key
changes), with the partition key value each unit lands on. The stack starts it when ``OMS_CAPACITY_METER`` names
the file (local/stack.py).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ORIGIN = re.compile(r"oms-function/(\w+)")
_lock = threading.Lock()
_path: Path | None = None
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


def _recording() -> bool:
    from moto.moto_api import recorder

    return bool(recorder._user_enabled)


def _emit(entry: dict[str, Any]) -> None:
    if _path is None:
        return
    entry["t"] = time.time()
    line = json.dumps(entry, default=str)
    with _lock, _path.open("a") as out:
        out.write(line + "\n")


# -- AWS's item size rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)

def value_size(value: dict[str, Any]) -> int:
    """Bytes of one typed attribute value ({"S": ...}, {"N": ...}, ...)."""
    [(kind, raw)] = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        digits = str(abs(Decimal(str(raw)).normalize())).replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits.rstrip("0") or "0") / 2) + 1
    if kind == "B":
        return len(raw) if isinstance(raw, bytes) else len(str(raw)) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in raw.items())
    return len(json.dumps(raw))


def item_size(attributes: dict[str, Any] | None) -> int:
    if not attributes:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in attributes.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


# -- the wrapped handler -------------------------------------------------------------------------------------------

def _attributes(item: Any) -> dict[str, Any] | None:
    if item is None:
        return None
    found: dict[str, Any] = json.loads(json.dumps(item.to_json()["Attributes"], default=str))
    return found


def _table(handler: Any, name: str) -> Any:
    try:
        return handler.dynamodb_backend.get_table(name)
    except Exception:  # an unknown table: moto answers with its own error
        return None


def _current(table: Any, key: dict[str, Any]) -> dict[str, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = key.get(table.hash_key_attr)
    if hash_value is None:
        return None
    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
    try:
        return _attributes(table.get_item(DynamoType(hash_value), DynamoType(range_value) if range_value else None))
    except Exception:
        return None


def _key_text(attributes: dict[str, Any] | None, name: str | None) -> str | None:
    if not attributes or not name or name not in attributes:
        return None
    [(_, raw)] = attributes[name].items()
    return str(raw)


def _projected(index: Any, table: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    kind = (index.projection or {}).get("ProjectionType", "ALL")
    if kind == "ALL":
        return attributes
    names = {table.hash_key_attr, table.range_key_attr, *index.schema_key_attrs}
    if kind == "INCLUDE":
        names |= set((index.projection or {}).get("NonKeyAttributes", []))
    return {k: v for k, v in attributes.items() if k in names}


def _write_entries(table: Any, before: dict[str, Any] | None, after: dict[str, Any] | None, factor: int,
                   failed: bool) -> list[dict[str, Any]]:
    """The table's and each index's write units for one item going from ``before`` to ``after``."""
    hash_name = table.hash_key_attr
    base = after if after is not None else before
    entries = [{"table": table.name, "index": None, "key": _key_text(base, hash_name),
                "units": factor * write_units(max(item_size(before), item_size(after), 0)),
                "size": max(item_size(before), item_size(after))}]
    if failed:
        return entries
    for index in getattr(table, "global_indexes", []) or []:
        keys = index.schema_key_attrs
        old_in = before is not None and all(k in before for k in keys)
        new_in = after is not None and all(k in after for k in keys)
        old_entry = _projected(index, table, before) if old_in and before is not None else None
        new_entry = _projected(index, table, after) if new_in and after is not None else None
        hash_key = index.schema[0]["AttributeName"]
        if old_entry is not None and new_entry is not None:
            if any(before.get(k) != after.get(k) for k in keys):  # type: ignore[union-attr]
                entries.append(_index_entry(table, index, old_entry, hash_key, "delete"))
                entries.append(_index_entry(table, index, new_entry, hash_key, "put"))
            elif old_entry != new_entry:
                entries.append(_index_entry(table, index, new_entry, hash_key, "update"))
        elif new_entry is not None:
            entries.append(_index_entry(table, index, new_entry, hash_key, "put"))
        elif old_entry is not None:
            entries.append(_index_entry(table, index, old_entry, hash_key, "delete"))
    return entries


def _index_entry(table: Any, index: Any, entry: dict[str, Any], hash_key: str, change: str) -> dict[str, Any]:
    size = item_size(entry)
    return {"table": table.name, "index": index.name, "key": _key_text(entry, hash_key), "units": write_units(size),
            "size": size, "change": change}


def _targets(op: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any], int, str]]:
    """(table, key or item, factor, kind) of each item a write request touches."""
    if op in ("PutItem", "UpdateItem", "DeleteItem"):
        return [(body["TableName"], body.get("Key") or body.get("Item") or {}, 1, op)]
    if op == "TransactWriteItems":
        found = []
        for part in body.get("TransactItems", []):
            [(kind, spec)] = part.items()
            found.append((spec["TableName"], spec.get("Key") or spec.get("Item") or {}, 2, kind))
        return found
    if op == "BatchWriteItem":
        found = []
        for name, requests in body.get("RequestItems", {}).items():
            for request in requests:
                [(kind, spec)] = request.items()
                found.append((name, spec.get("Key") or spec.get("Item") or {}, 1, kind))
        return found
    return []


def _metered(original: Any) -> Any:
    def call_action(self: Any) -> Any:
        if _path is None or not _recording():
            return original(self)
        headers = {k.lower(): v for k, v in dict(self.headers).items()}
        op = headers.get("x-amz-target", "").rsplit(".", 1)[-1]
        if op not in WRITES and op not in READS:
            return original(self)
        found = ORIGIN.search(headers.get("user-agent", ""))
        origin = found.group(1) if found else "local-stack"
        raw = self.body if isinstance(self.body, str | bytes) else "{}"
        try:
            body = json.loads(raw or "{}")
        except ValueError:
            body = {}
        touched = []
        if op in WRITES:
            for name, key, factor, kind in _targets(op, body):
                table = _table(self, name)
                if table is not None:
                    touched.append((table, key, factor, kind, _current(table, key)))
        failed = True
        try:
            answer = original(self)
            failed = not (isinstance(answer, tuple) and int(answer[0]) < 300)
            return answer
        finally:
            try:
                if op in WRITES:
                    for table, key, factor, kind, before in touched:
                        after = _current(table, key)
                        if kind == "ConditionCheck":
                            after = before
                        for entry in _write_entries(table, before, after, factor, failed or kind == "ConditionCheck"):
                            _emit({"kind": "write", "op": op, "origin": origin, "failed": failed, **entry})
                else:
                    _reads(self, op, origin, body, locals().get("answer"))
            except Exception as exc:  # the meter must never break a request
                _emit({"kind": "meter-error", "op": op, "error": repr(exc)})

    return call_action


def _reads(handler: Any, op: str, origin: str, body: dict[str, Any], answer: Any) -> None:
    if not isinstance(answer, tuple) or int(answer[0]) >= 300:
        return
    text = answer[2]
    data = json.loads(text.decode() if isinstance(text, bytes) else text or "{}")
    consistent = bool(body.get("ConsistentRead"))
    if op == "GetItem":
        size = item_size(data.get("Item"))
        _emit({"kind": "read", "op": op, "origin": origin, "table": body["TableName"], "index": None,
               "key": _first_value(body.get("Key")), "units": read_units(size, consistent), "size": size})
    elif op in ("Query", "Scan"):
        size = sum(item_size(item) for item in data.get("Items", []))
        _emit({"kind": "read", "op": op, "origin": origin, "table": body["TableName"], "index": body.get("IndexName"),
               "key": _query_key(body), "units": read_units(size, consistent), "size": size,
               "items": len(data.get("Items", []))})
    elif op in ("BatchGetItem", "TransactGetItems"):
        factor = 2 if op == "TransactGetItems" else 1
        responses = data.get("Responses", {})
        items = ([(n, i) for n, found in responses.items() for i in found] if isinstance(responses, dict)
                 else [(p.get("TableName", "?"), p.get("Item")) for p in responses])
        for name, item in items:
            size = item_size(item)
            table = _table(handler, name)
            key = _key_text(item, table.hash_key_attr) if table is not None else None
            _emit({"kind": "read", "op": op, "origin": origin, "table": name, "index": None, "key": key,
                   "units": factor * read_units(size, consistent or factor == 2), "size": size})


def _first_value(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    [(_, raw)] = next(iter(key.values())).items()
    return str(raw)


def _query_key(body: dict[str, Any]) -> str | None:
    values = body.get("ExpressionAttributeValues") or {}
    condition = body.get("KeyConditionExpression") or ""
    for name, value in values.items():
        if name in condition:
            [(_, raw)] = value.items()
            return str(raw)
    return None


def _lambda_hook(original: Any) -> Any:
    def lambda_invocation(self: Any, function_name: str, duration_ms: float, errored: bool) -> None:
        if _path is not None and _recording():
            _emit({"kind": "lambda", "function": function_name, "ms": duration_ms, "errored": errored})
        original(self, function_name, duration_ms, errored)

    return lambda_invocation


def _api_hook(original: Any) -> Any:
    def api_request(self: Any, api_name: str, stage: str, resource: str | None, method: str, status: int,
                    latency_ms: float) -> None:
        if _path is not None and _recording():
            _emit({"kind": "api", "resource": resource, "method": method, "status": status})
        original(self, api_name, stage, resource, method, status, latency_ms)

    return api_request


def _serialized(original: Any) -> Any:
    """moto's recorder writes an entry and its newline apart, from every request thread: one at a time here."""
    lock = threading.Lock()

    def record_request(self: Any, request: Any, body: bytes | None = None) -> None:
        with lock:
            original(self, request, body)

    return record_request


def install(path: str | Path) -> None:
    """Meter every DynamoDB request (and Lambda invocation, API request) while moto's recorder records; and keep
    the recorder's entries whole."""
    global _path
    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_api._internal.recorder.models import Recorder

    from local.emf import EmfShipper

    _path = Path(path)
    DynamoHandler.call_action = _metered(DynamoHandler.call_action)  # type: ignore[method-assign]
    EmfShipper.lambda_invocation = _lambda_hook(EmfShipper.lambda_invocation)  # type: ignore[method-assign]
    EmfShipper.api_request = _api_hook(EmfShipper.api_request)  # type: ignore[method-assign]
    Recorder._record_request = _serialized(Recorder._record_request)  # type: ignore[method-assign]
