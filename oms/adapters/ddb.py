"""DynamoDB item (de)serialization and update-expression building.

Reading uses Powertools' copy of boto3's ``TypeDeserializer``; writing uses ``to_value`` below, which encodes the
JSON-like values an order holds exactly as boto3's ``TypeSerializer`` does (a test compares the two on generated
values). Neither imports boto3, which keeps it out of the cold start (see ``oms.adapters.aws``).
"""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import DYNAMODB_CONTEXT, TypeDeserializer
from botocore.exceptions import ClientError

from oms.domain.errors import TransientError

BATCH_GET_LIMIT = 100
_deserializer = TypeDeserializer()


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {key: to_value(value) for key, value in data.items() if value is not None}


def to_value(value: Any) -> dict[str, Any]:
    """One DynamoDB AttributeValue: str, int and Decimal, bool, None, bytes, and lists and dicts of them."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": _number(value)}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, dict):
        return {"M": {str(k): to_value(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_value(v) for v in value]}
    raise TypeError(f"unsupported DynamoDB value {type(value).__name__}: use int or Decimal, not float")


def _number(value: int | Decimal) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))  # traps what DynamoDB cannot store (> 38 digits)
    if number in ("Infinity", "-Infinity", "NaN", "sNaN"):
        raise TypeError(f"DynamoDB numbers must be finite, got {value}")
    return number


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | set):
        return [_plain(inner) for inner in value]
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def batch_get(ddb: Any, keys: dict[str, list[dict[str, Any]]], *, attempts: int = 5,
              eventually: frozenset[str] = frozenset()) -> dict[str, list[dict[str, Any]]]:
    """BatchGetItem over several tables: ``{table: [key, ...]}`` -> ``{table: [item, ...]}``; consistent reads
    except from the tables in ``eventually`` (half the read units, and any replica of a hot partition answers).

    One request for up to 100 keys (DynamoDB's limit per call). Keys DynamoDB leaves unprocessed (throttling)
    are asked for again, a few times, before giving up with a ``TransientError``."""
    found: dict[str, list[dict[str, Any]]] = {table: [] for table in keys}
    flat = [(table, key) for table, table_keys in keys.items() for key in table_keys]
    for start in range(0, len(flat), BATCH_GET_LIMIT):
        pending: dict[str, Any] = {}
        for table, key in flat[start:start + BATCH_GET_LIMIT]:
            pending.setdefault(table, {"Keys": [], "ConsistentRead": table not in eventually})["Keys"].append(key)
        for _ in range(attempts):
            response = ddb.batch_get_item(RequestItems=pending)
            for table, items in response.get("Responses", {}).items():
                found[table].extend(from_item(item) for item in items)
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
        if pending:
            raise TransientError("DynamoDB left keys unprocessed after several attempts")
    return found


def query_all(ddb: Any, **params: Any) -> list[dict[str, Any]]:
    """Every item a Query finds (all its pages), as plain values."""
    found: list[dict[str, Any]] = []
    while True:
        response = ddb.query(**params)
        found += [from_item(item) for item in response.get("Items", [])]
        if "LastEvaluatedKey" not in response:
            return found
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def query_each(ddb: Any, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item a Query finds, page by page as it goes (a long listing never sits in memory whole)."""
    while True:
        response = ddb.query(**params)
        yield from (from_item(item) for item in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def is_conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] in ("ConditionalCheckFailedException", "TransactionCanceledException")


class Update:
    """Accumulates SET/REMOVE actions and conditions with generated placeholder names."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.conditions: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, path: str | tuple[str, ...]) -> str:
        """Placeholders for a document path: ``"a.b"``, or a tuple of parts when a part may contain a dot."""
        parts = []
        for part in (path.split(".") if isinstance(path, str) else path):
            placeholder = f"#n{len(self.names)}"
            self.names[placeholder] = part
            parts.append(placeholder)
        return ".".join(parts)

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = to_value(value)
        return placeholder

    def set(self, path: str, value: Any) -> "Update":
        self.sets.append(f"{self.name(path)} = {self.value(value)}")
        return self

    def append(self, path: str, items: list[Any]) -> "Update":
        name = self.name(path)
        self.sets.append(f"{name} = list_append(if_not_exists({name}, {self.value([])}), {self.value(items)})")
        return self

    def increment(self, path: str | tuple[str, ...], by: int) -> "Update":
        """``path += by`` atomically (a missing number counts as 0)."""
        name = self.name(path)
        self.sets.append(f"{name} = if_not_exists({name}, {self.value(0)}) + {self.value(by)}")
        return self

    def remove(self, path: str) -> "Update":
        self.removes.append(self.name(path))
        return self

    def require(self, condition: str, **values: Any) -> "Update":
        """Add a condition; ``{name}`` in it becomes a name placeholder, ``:key`` a value."""
        for key, value in values.items():
            placeholder = self.value(value)
            condition = condition.replace(f":{key}", placeholder)
        self.conditions.append(condition)
        return self

    def require_in(self, path: str, allowed: list[str]) -> "Update":
        name = self.name(path)
        self.conditions.append(f"{name} IN ({', '.join(self.value(v) for v in allowed)})")
        return self

    def params(self) -> dict[str, Any]:
        expression = []
        if self.sets:
            expression.append("SET " + ", ".join(self.sets))
        if self.removes:
            expression.append("REMOVE " + ", ".join(self.removes))
        params: dict[str, Any] = {"UpdateExpression": " ".join(expression)}
        if self.conditions:
            params["ConditionExpression"] = " AND ".join(f"({c})" for c in self.conditions)
        if self.names:
            params["ExpressionAttributeNames"] = self.names
        if self.values:
            params["ExpressionAttributeValues"] = self.values
        return params
