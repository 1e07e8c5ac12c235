"""Low-stock alerts: a warehouse's available units of a SKU dropping below the product's ``low_stock_threshold``
publishes one alert to the ops topic, whatever number of orders crossed it together (a conditional flag on the
stock row decides which write alerts); stock back at or above the threshold re-arms it."""

from __future__ import annotations

from collections.abc import Iterable

from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.adapters.notifications import OpsAlerts


class LowStock:
    def __init__(self, catalog: CatalogRepository, inventory: InventoryRepository, alerts: OpsAlerts | None) -> None:
        self.catalog = catalog
        self.inventory = inventory
        self.alerts = alerts

    def check(self, rows: Iterable[tuple[str, str]], known: dict[str, int] | None = None) -> list[str]:
        """Alert for each (sku, warehouse) now below its threshold and not alerted yet; re-arm those back above.
        ``known``: the thresholds, when the caller has them (an order carries its SKUs'); otherwise the catalog's.
        Returns the alerts published."""
        published: list[str] = []
        thresholds: dict[str, int | None] = {}
        for sku, warehouse in sorted(set(rows)):
            if known is not None:
                thresholds[sku] = known.get(sku)
            elif sku not in thresholds:
                product = self.catalog.get(sku)
                thresholds[sku] = product.get("low_stock_threshold") if product else None
            threshold = thresholds[sku]
            if not threshold:
                continue
            if self.inventory.set_low_alerted(sku, warehouse, threshold):
                row = self.inventory.row(sku, warehouse).stock
                message = (f"{sku} at {warehouse}: {row['available']} available, below the threshold of {threshold} "
                           f"({row['on_hand']} on hand, {row['reserved']} reserved, {row['incoming_total']} "
                           "incoming). Reorder or move stock; this alert repeats only after stock is back above "
                           "the threshold.")
                if self.alerts is not None:
                    self.alerts.alert(f"Low stock: {sku} at {warehouse}", message)
                published.append(message)
            else:
                self.inventory.clear_low_alerted(sku, warehouse, threshold)
        return published
