"""Cognito's custom-message trigger: our own wording, in the customer's language, for the emails (and SMS) of
sign-up, password reset, invitation and attribute verification.

Cognito sends the message itself: the trigger only returns ``response.emailSubject``, ``emailMessage`` (HTML) and
``smsMessage``, each holding Cognito's placeholders (``request.codeParameter``, ``{####}``, and for an invitation
``request.usernameParameter``), which Cognito replaces with the real code and user name after we return. The
trigger never sees a code. Any other trigger source (``CustomMessage_Authentication``, MFA codes), or a message
Cognito would refuse, goes back unchanged: Cognito then sends its default message, and sign-up never fails
because of a template.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import observability
from oms.domain.account_messages import cognito_problems, customer_locale, plain_name, render_account
from oms.domain.messages import Shop
from oms.settings import CognitoMessagesSettings

logger = observability.logger()
tracer = observability.tracer()

#: triggerSource -> account message event; a source not listed keeps Cognito's default message.
EVENTS = {
    "CustomMessage_SignUp": "signup_code",
    "CustomMessage_ResendCode": "resend_code",
    "CustomMessage_ForgotPassword": "reset_code",
    "CustomMessage_AdminCreateUser": "admin_invite",
    "CustomMessage_UpdateUserAttribute": "attribute_code",
    "CustomMessage_VerifyUserAttribute": "attribute_code",
}
CODE_PARAMETER = "{####}"  # what Cognito documents, should a request lack its own
USERNAME_PARAMETER = "{username}"


@cache
def _shop() -> Shop:
    env = CognitoMessagesSettings.from_env()
    return Shop(env.shop_name, env.support_email, env.support_url or "")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = str(event.get("triggerSource") or "")
    account_event = EVENTS.get(source)
    logger.append_keys(trigger=source)
    if account_event is None:
        logger.info("default message kept")
        return event
    request = event.get("request") or {}
    attributes = request.get("userAttributes") or {}
    locale = customer_locale((request.get("clientMetadata") or {}).get("locale"), attributes.get("locale"))
    code = request.get("codeParameter") or CODE_PARAMETER
    values = {"code": code, "name": plain_name(attributes.get("given_name") or attributes.get("name"))}
    placeholders = [code]
    if account_event == "admin_invite":
        values["username"] = request.get("usernameParameter") or USERNAME_PARAMETER
        placeholders.append(values["username"])
    shop = _shop()  # outside the guard below: a missing setting is a deployment error, and fails loudly
    try:
        message = render_account(account_event, locale, shop=shop, values=values)
    except Exception:  # a broken template must not fail the customer's sign-up: Cognito's default goes out
        logger.exception("account message not rendered; default message kept", extra={"locale": locale})
        return event
    problems = cognito_problems(message, placeholders)
    if problems:
        logger.error("account message refused; default message kept",
                     extra={"locale": locale, "template_locale": message.locale, "problems": problems})
        return event
    response = event.get("response") or {}
    event["response"] = response
    response["emailSubject"] = message.subject
    response["emailMessage"] = message.html
    response["smsMessage"] = message.sms
    logger.info("custom message", extra={"event": account_event, "locale": locale, "template_locale": message.locale})
    return event
