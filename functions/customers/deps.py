"""The adapters of the account and privacy routes, built on first use (a preferences request builds only the
table's client). Shared by ``customers`` (the customer's own) and ``customers_admin`` (ops' erasure)."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from oms.adapters.customers_repo import CustomersRepository
from oms.settings import CustomersSettings, SettingsError

if TYPE_CHECKING:
    from oms.adapters.exports import ExportStore
    from oms.adapters.identity import Identity
    from oms.adapters.orders_repo import OrdersRepository
    from oms.adapters.payment_gateway import PaymentGateway
    from oms.adapters.suppressions_repo import SuppressionsRepository
    from oms.logic.privacy import Farewell, Holdings

#: Exports up to this size are answered inline (API Gateway and Lambda cap a response at 6 MB).
DEFAULT_INLINE_BYTES = 4 * 1024 * 1024


def _need(value: str | None, name: str) -> str:
    if not value:
        raise SettingsError(f"environment variable {name} is not set")
    return value


class AccountDeps:
    def __init__(self, env: CustomersSettings) -> None:
        self.env = env

    @cached_property
    def customers(self) -> CustomersRepository:
        return CustomersRepository(self.env.customers_table)

    @cached_property
    def orders(self) -> OrdersRepository:
        from oms.adapters.orders_repo import OrdersRepository
        from oms.adapters.pagination import CursorCodec
        from oms.adapters.secrets import secret

        arn = _need(self.env.cursor_secret_arn, "CURSOR_SECRET_ARN")
        return OrdersRepository(_need(self.env.orders_table, "ORDERS_TABLE"),
                                cursors=CursorCodec(lambda: secret(arn).encode()))

    @cached_property
    def holdings(self) -> Holdings:
        from oms.adapters.returns_repo import ReturnsRepository
        from oms.logic.privacy import Holdings

        return Holdings(self.customers, self.orders, ReturnsRepository(_need(self.env.returns_table,
                                                                             "RETURNS_TABLE")))

    @property
    def gateway(self) -> PaymentGateway:
        """Asked for on every use: the Stripe gateway follows a rotated key."""
        from oms.adapters.payment_gateway import gateway_for

        return gateway_for(_need(self.env.payment_gateway, "PAYMENT_GATEWAY"), self.env.sandbox_ledger_table)

    @cached_property
    def identity(self) -> Identity:
        from oms.adapters.identity import Identity

        return Identity(_need(self.env.user_pool_id, "USER_POOL_ID"),
                        _need(self.env.user_pool_client_id, "USER_POOL_CLIENT_ID"))

    @cached_property
    def suppressions(self) -> SuppressionsRepository:
        from oms.adapters.suppressions_repo import SuppressionsRepository

        return SuppressionsRepository(_need(self.env.suppressions_table, "SUPPRESSIONS_TABLE"))

    @cached_property
    def exports(self) -> ExportStore:
        from oms.adapters.exports import ExportStore

        return ExportStore(_need(self.env.exports_bucket, "EXPORTS_BUCKET"))

    @property
    def inline_bytes(self) -> int:
        return self.env.export_inline_bytes or DEFAULT_INLINE_BYTES

    def send_farewell(self, farewell: Farewell, now: datetime) -> bool:
        """The erasure's confirmation email; False (logged by the caller) if SES refused it."""
        from botocore.exceptions import BotoCoreError, ClientError

        from oms.adapters.mailer import Mailer
        from oms.domain.account_messages import render_account
        from oms.domain.messages import Shop
        from oms.domain.order import iso

        if not farewell.email:
            return False
        shop = Shop(name=self.env.shop_name or "", support_email=self.env.support_email or "",
                    support_url=self.env.support_url or "")
        message = render_account("account_deleted", farewell.locale, shop=shop, values={
            "name": farewell.name, "deleted_at": iso(now), "orders_kept": farewell.orders_kept})
        try:
            Mailer(_need(self.env.sender_email, "SENDER_EMAIL"), self.env.configuration_set).email(
                farewell.email, message, tags={"event": "account_deleted"})
        except (ClientError, BotoCoreError):
            return False
        return True
