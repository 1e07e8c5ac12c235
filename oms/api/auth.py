"""Who is calling: the Cognito claims API Gateway's authorizer verified and passed in the event."""

from dataclasses import dataclass
from typing import Any

OPS_GROUP = "ops"


@dataclass(frozen=True)
class Caller:
    user_id: str
    email: str
    groups: frozenset[str]
    auth_time: int | None = None  # when the caller signed in (epoch seconds), from the ID token

    def signed_in_within(self, seconds: int, now: float) -> bool:
        return self.auth_time is not None and 0 <= now - self.auth_time <= seconds

    @property
    def is_ops(self) -> bool:
        return OPS_GROUP in self.groups

    @property
    def name(self) -> str:
        """How an ops action records who took it: the email, or the user id when there is none."""
        return self.email or self.user_id


def _groups(raw: Any) -> frozenset[str]:
    """The Cognito authorizer passes ``cognito:groups`` as a string ("ops", "[a b]" or "a,b")."""
    if isinstance(raw, list):
        return frozenset(str(g) for g in raw)
    text = str(raw or "").strip("[]")
    return frozenset(g for g in text.replace(",", " ").split() if g)


def caller_from_event(event: dict[str, Any]) -> Caller | None:
    """The verified caller of a REST proxy event, or None when the request carries no claims."""
    context = event.get("requestContext") or {}
    claims = (context.get("authorizer") or {}).get("claims") or {}
    if not isinstance(claims, dict) or not claims.get("sub"):
        return None
    auth_time = str(claims.get("auth_time", ""))
    return Caller(str(claims["sub"]), str(claims.get("email", "")), _groups(claims.get("cognito:groups")),
                  int(auth_time) if auth_time.isdigit() else None)
