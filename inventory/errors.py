"""Inventory error codes, and OutOfStock (a 409 naming the short SKUs)."""

from __future__ import annotations

from collections.abc import Mapping

from oms.core.errors import Conflict

OUT_OF_STOCK = "out_of_stock"
INSUFFICIENT_STOCK = "insufficient_stock"
NOT_ALLOCATED = "not_allocated"
NOT_STOCKABLE = "not_stockable"
UNKNOWN_SKU = "unknown_sku"
REASON_REQUIRED = "reason_required"
INVALID_QUANTITY = "invalid_quantity"
OVER_CAPACITY = "over_capacity"


class OutOfStock(Conflict):
    """Allocation refused: not enough stock and no backorder allowed. ``shortfalls`` maps
    each short SKU code to the units missing."""

    default_code = OUT_OF_STOCK

    def __init__(self, shortfalls: Mapping[str, int]) -> None:
        codes = sorted(shortfalls)
        super().__init__(
            f"Not enough stock for {', '.join(codes)}.",
            fields={"skus": codes, "shortfalls": dict(sorted(shortfalls.items()))},
        )
        self.sku_codes = codes
        self.shortfalls = dict(shortfalls)
