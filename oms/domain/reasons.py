"""Why an order is cancelled: the reasons customers and ops may give (part of the public API)."""

from typing import Literal

CustomerReason = Literal["CHANGED_MIND", "ORDERED_BY_MISTAKE", "FOUND_BETTER_PRICE", "DELIVERY_TOO_SLOW", "OTHER"]
#: Why a customer returns an item (the return policy sets each one's fees).
ReturnReason = Literal["DAMAGED", "DEFECTIVE", "WRONG_ITEM", "NOT_AS_DESCRIBED", "NO_LONGER_NEEDED", "SIZE_OR_FIT",
                       "OTHER"]
OpsReason = Literal["CUSTOMER_REQUEST", "FRAUD", "OUT_OF_STOCK", "PAYMENT_ISSUE", "STAFF_ERROR", "OTHER"]
