"""Why an order is cancelled: the reasons customers and ops may give (part of the public API)."""

from typing import Literal

CustomerReason = Literal["CHANGED_MIND", "ORDERED_BY_MISTAKE", "FOUND_BETTER_PRICE", "DELIVERY_TOO_SLOW", "OTHER"]
OpsReason = Literal["CUSTOMER_REQUEST", "FRAUD", "OUT_OF_STOCK", "PAYMENT_ISSUE", "STAFF_ERROR", "OTHER"]
