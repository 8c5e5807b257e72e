"""Inventory writes. Import from here: ``from inventory.services import stock_allocate``."""

from ..errors import OutOfStock
from .allocation import (
    AllocatedPart,
    AllocationLine,
    AllocationRequest,
    AllocationResult,
    BackorderedPart,
    ReleaseResult,
    backorders_fill_from_stock,
    plan_allocation,
    stock_allocate,
    stock_allocate_many,
    stock_release,
    stock_release_lines,
    stock_ship,
)
from .catalog import (
    bundle_set_components,
    product_create,
    sku_create,
    sku_set_price,
    warehouse_create,
)
from .stock import (
    stock_adjust,
    stock_level_set_thresholds,
    stock_receive,
    stock_return,
    stock_write_off,
)
from .transfers import transfer_cancel, transfer_dispatch, transfer_receive, transfer_request

__all__ = [
    "AllocatedPart",
    "AllocationLine",
    "AllocationRequest",
    "AllocationResult",
    "BackorderedPart",
    "OutOfStock",
    "ReleaseResult",
    "backorders_fill_from_stock",
    "bundle_set_components",
    "plan_allocation",
    "product_create",
    "sku_create",
    "sku_set_price",
    "stock_adjust",
    "stock_allocate",
    "stock_allocate_many",
    "stock_level_set_thresholds",
    "stock_receive",
    "stock_release",
    "stock_release_lines",
    "stock_return",
    "stock_ship",
    "stock_write_off",
    "transfer_cancel",
    "transfer_dispatch",
    "transfer_receive",
    "transfer_request",
    "warehouse_create",
]
