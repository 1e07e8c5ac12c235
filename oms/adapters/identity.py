"""The Cognito user pool the API trusts: checking a password again, signing a user out everywhere, deleting
the user. (Sign-up, confirmation and password resets are the storefront's direct calls to Cognito.)"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import client

#: Cognito's answers to a wrong password or an unknown user (with user-existence errors prevented), and to a
#: password Cognito would never accept (e.g. leading or trailing whitespace): all "not the password".
_REFUSED = frozenset({"NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException",
                      "PasswordResetRequiredException", "InvalidParameterException"})


class Identity:
    def __init__(self, user_pool_id: str, client_id: str) -> None:
        self.pool = user_pool_id
        self.client_id = client_id
        self.idp: Any = client("cognito-idp")

    def password_matches(self, email: str, password: str) -> bool:
        """Whether ``password`` signs ``email`` in (USER_PASSWORD_AUTH; the tokens are thrown away)."""
        try:
            self.idp.initiate_auth(ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": email, "PASSWORD": password})
        except ClientError as error:
            if error.response["Error"]["Code"] in _REFUSED:
                return False
            raise
        return True

    def username(self, customer_id: str) -> str | None:
        """The pool's user name of the customer whose ``sub`` is ``customer_id``; None once deleted."""
        users = self.idp.list_users(UserPoolId=self.pool, Filter=f'sub = "{customer_id}"', Limit=1)["Users"]
        return str(users[0]["Username"]) if users else None

    def email(self, customer_id: str) -> str | None:
        users = self.idp.list_users(UserPoolId=self.pool, Filter=f'sub = "{customer_id}"', Limit=1)["Users"]
        for attribute in users[0]["Attributes"] if users else []:
            if attribute["Name"] == "email":
                return str(attribute["Value"])
        return None

    def delete(self, customer_id: str) -> bool:
        """Sign the user out everywhere and delete them; False if there was no such user (already deleted)."""
        username = self.username(customer_id)
        if username is None:
            return False
        try:
            self.idp.admin_user_global_sign_out(UserPoolId=self.pool, Username=username)
            self.idp.admin_delete_user(UserPoolId=self.pool, Username=username)
        except ClientError as error:
            if error.response["Error"]["Code"] == "UserNotFoundException":
                return False
            raise
        return True
