"""Catalog and stock, as ops manage them: products, counted stock per warehouse, stock levels."""

from oms.adapters.catalog_repo import CatalogRepository
from oms.adapters.inventory_repo import InventoryRepository
from oms.domain.catalog import Product, StockLevels
from oms.domain.errors import NotFound, ValidationFailed
from oms.domain.models import ProductRequest


def put_product(sku: str, request: ProductRequest, catalog: CatalogRepository) -> Product:
    product: Product = {"sku": sku, "name": request.name, "price": request.price, "currency": request.currency,
                        "active": True}
    if request.category is not None:
        product["category"] = request.category
    if request.weight_grams is not None:
        product["weight_grams"] = request.weight_grams
    catalog.put(product)
    return product


def set_stock(sku: str, warehouse: str, on_hand: int, warehouses: tuple[str, ...], catalog: CatalogRepository,
              inventory: InventoryRepository) -> StockLevels:
    """Set the counted stock of ``sku`` at ``warehouse``: a known warehouse, a product in the catalog, and never
    below what is reserved there (``Conflict``)."""
    if warehouse not in warehouses:
        raise ValidationFailed("warehouse", f"unknown warehouse {warehouse!r}; known: {', '.join(warehouses)}")
    if catalog.get(sku) is None:
        raise NotFound(f"sku {sku!r} is not in the catalog; PUT /admin/products/{sku} first")
    inventory.set_on_hand(sku, warehouse, on_hand)
    return stock_levels(sku, catalog, inventory)


def stock_levels(sku: str, catalog: CatalogRepository, inventory: InventoryRepository) -> StockLevels:
    rows = inventory.levels(sku)
    if not rows and catalog.get(sku) is None:
        raise NotFound(f"sku {sku!r} not found")
    return {
        "sku": sku,
        "on_hand": sum(r["on_hand"] for r in rows),
        "reserved": sum(r["reserved"] for r in rows),
        "available": sum(r["available"] for r in rows),
        "warehouses": rows,
    }
