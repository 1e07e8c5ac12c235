"""What Cognito does with codes that moto does not: it sends them.

moto's Cognito confirms a sign-up with any code and hands a reset code back in a moto-only header. On AWS a code
reaches the user only by email, worded by the pool's custom-message trigger. This module makes the local pool
behave that way, with the pool's own configuration from the synthesized template:

- ``SignUp``, ``ResendConfirmationCode`` and ``ForgotPassword`` create a six-digit code (24 hours for sign-up,
  1 hour for a reset, as Cognito's), invoke the pool's ``LambdaConfig.CustomMessage`` function (the real trigger
  handler, through the local Lambda runner) with Cognito's event, put the code in place of ``{####}`` and send
  the message through SES as the pool's ``EmailConfiguration.From`` (so it appears in ``oms outbox``);
- ``ConfirmSignUp`` and ``ConfirmForgotPassword`` accept only that code (``CodeMismatchException``,
  ``ExpiredCodeException`` otherwise), once.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from email.message import EmailMessage
from typing import Any

CODE_PARAMETER = "{####}"
LIFETIME = {"signup": 24 * 3600, "reset": 3600}
_codes: dict[tuple[str, str, str], tuple[str, float]] = {}
_lock = threading.Lock()
_endpoint: dict[str, str] = {}


def install(endpoint_url: str) -> None:
    """Patch moto's Cognito responses (once per process); ``endpoint_url`` is the moto server's, for Lambda."""
    from moto.cognitoidp.responses import CognitoIdpResponse

    _endpoint["url"] = endpoint_url
    if getattr(CognitoIdpResponse, "_oms_codes", False):
        return
    sign_up, confirm_sign_up = CognitoIdpResponse.sign_up, CognitoIdpResponse.confirm_sign_up
    confirm_forgot_password = CognitoIdpResponse.confirm_forgot_password

    def patched_sign_up(self: Any) -> Any:
        result = sign_up(self)
        _deliver(self, "signup", "CustomMessage_SignUp")
        return result

    def patched_resend(self: Any) -> Any:
        from moto.core.responses import ActionResult

        return ActionResult({"CodeDeliveryDetails": _deliver(self, "signup", "CustomMessage_ResendCode")})

    def patched_confirm_sign_up(self: Any) -> Any:
        _check(self, "signup")
        return confirm_sign_up(self)

    def patched_forgot_password(self: Any) -> Any:
        from moto.core.responses import ActionResult

        details = _deliver(self, "reset", "CustomMessage_ForgotPassword")
        # Cognito answers the same for unknown users when user-existence errors are prevented.
        return ActionResult({"CodeDeliveryDetails": details or {
            "Destination": "***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}})

    def patched_confirm_forgot_password(self: Any) -> Any:
        _check(self, "reset")
        return confirm_forgot_password(self)

    CognitoIdpResponse.sign_up = patched_sign_up  # type: ignore[method-assign]
    CognitoIdpResponse.resend_confirmation_code = patched_resend  # type: ignore[attr-defined]
    CognitoIdpResponse.confirm_sign_up = patched_confirm_sign_up  # type: ignore[method-assign]
    CognitoIdpResponse.forgot_password = patched_forgot_password  # type: ignore[method-assign]
    CognitoIdpResponse.confirm_forgot_password = patched_confirm_forgot_password  # type: ignore[method-assign]
    CognitoIdpResponse._oms_codes = True  # type: ignore[attr-defined]


def _pool_and_user(response: Any) -> tuple[Any, Any, Any]:
    """(backend, pool, user or None) of the request's ClientId and Username."""
    from moto.cognitoidp.exceptions import ResourceNotFoundError
    from moto.cognitoidp.models import cognitoidp_backends, find_account_region_by_value

    client_id = response._get_param("ClientId")
    account, region = find_account_region_by_value("client_id", client_id,
                                                   fallback=(response.current_account, response.region))
    backend = cognitoidp_backends[account][region]
    for pool in backend.user_pools.values():
        if client_id in pool.clients:
            return backend, pool, pool._get_user(response._get_param("Username"))
    raise ResourceNotFoundError(client_id)


def _check(response: Any, purpose: str) -> None:
    from moto.cognitoidp.exceptions import CodeMismatchException, ExpiredCodeException

    _backend, pool, user = _pool_and_user(response)
    if user is None:
        raise CodeMismatchException("Invalid verification code provided, please try again.")
    given = str(response._get_param("ConfirmationCode") or "")
    with _lock:
        code, expires = _codes.get((pool.id, user.id, purpose), ("", 0.0))
        if not code or not secrets.compare_digest(code, given):
            raise CodeMismatchException("Invalid verification code provided, please try again.")
        if time.time() > expires:
            raise ExpiredCodeException("Invalid code provided, please request a code again.")
        del _codes[(pool.id, user.id, purpose)]


def _deliver(response: Any, purpose: str, trigger: str) -> dict[str, str] | None:
    """Create a code for the request's user, word it with the pool's trigger, send it; the delivery details."""
    _backend, pool, user = _pool_and_user(response)
    if user is None:
        return None
    attributes = {a["Name"]: a["Value"] for a in user.attributes}
    email = attributes.get("email")
    if not email:
        return None
    code = f"{secrets.randbelow(10**6):06d}"
    with _lock:
        _codes[(pool.id, user.id, purpose)] = (code, time.time() + LIFETIME[purpose])
    event = {
        "version": "1", "region": response.region, "userPoolId": pool.id, "userName": user.username,
        "callerContext": {"awsSdkVersion": "local", "clientId": response._get_param("ClientId")},
        "triggerSource": trigger,
        "request": {"userAttributes": {**attributes, "sub": user.id, "cognito:user_status": str(user.status)},
                    "codeParameter": CODE_PARAMETER, "linkParameter": "{##Click Here##}",
                    "usernameParameter": None, "clientMetadata": response._get_param("ClientMetadata") or {}},
        "response": {"smsMessage": None, "emailMessage": None, "emailSubject": None},
    }
    worded = _trigger(pool, event)
    subject = worded.get("emailSubject") or "Your verification code"
    body = (worded.get("emailMessage") or f"Your verification code is {CODE_PARAMETER}").replace(CODE_PARAMETER, code)
    _send(response, pool, email, subject, body)
    local, _, domain = email.partition("@")
    return {"Destination": f"{local[:1]}***@{domain[:1]}***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}


def _trigger(pool: Any, event: dict[str, Any]) -> dict[str, Any]:
    """The custom-message trigger's answer (its ``response``), or {} when the pool has none."""
    import boto3

    arn = (pool.extended_config.get("LambdaConfig") or {}).get("CustomMessage")
    if not arn:
        return {}
    lam = boto3.client("lambda", endpoint_url=_endpoint["url"], region_name=event["region"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    answer = lam.invoke(FunctionName=arn, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        # Cognito refuses the operation when the trigger fails (UnexpectedLambdaException); say so locally.
        raise RuntimeError(f"the custom message trigger failed: {payload}")
    return dict(payload.get("response") or {})


def _send(response: Any, pool: Any, to: str, subject: str, html: str) -> None:
    from moto.ses.models import ses_backends

    source = (pool.extended_config.get("EmailConfiguration") or {}).get("From") or "no-reply@verificationemail.com"
    backend = ses_backends[response.current_account][response.region]
    if not backend._is_verified_address(source):
        backend.verify_email_identity(source)  # Cognito's own sender needs no verification
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = source, to, subject
    message.set_content(_text(html))
    message.add_alternative(html, subtype="html")
    sent = backend.send_raw_email(source, [], message.as_string())  # the To header names the recipient
    sent.sent_at = time.time()  # as the outbox's other messages carry (local/moto_patches.py)


def _text(html: str) -> str:
    import re

    return re.sub(r"\n{3,}", "\n\n", re.sub(r"<[^>]+>", "", html)).strip()
