"""DynamoDB item (de)serialization and update-expression building."""

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in data.items() if value is not None}


def to_value(value: Any) -> dict[str, Any]:
    serialized: dict[str, Any] = _serializer.serialize(value)
    return serialized


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

    def name(self, path: str) -> str:
        parts = []
        for part in path.split("."):
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
