"""Every write to orders. Other apps import from here: ``orders.services.order_place`` etc.

- intake: ``order_place`` (``order_place_or_get``), ``orders_place_many`` (a batch),
  ``order_place_grouped`` (group commit of concurrent requests; ``placement_expected``)
- lifecycle: ``order_cancel``, ``order_hold``, ``order_release``, ``order_payment_confirm``,
  ``order_note_add``, ``order_event_record``
- editing: ``order_edit``
- fulfillment: ``order_record_shipment``, ``order_record_delivery``, ``order_record_return``,
  ``order_backorder_filled`` (registered with inventory)
"""

from .editing import order_edit
from .fulfillment import (
    order_backorder_filled,
    order_record_delivery,
    order_record_return,
    order_record_shipment,
)
from .grouping import order_place_grouped, placement_expected
from .intake import PlaceRequest, order_place, order_place_or_get, orders_place_many
from .lifecycle import (
    order_cancel,
    order_event_record,
    order_hold,
    order_note_add,
    order_payment_confirm,
    order_release,
)

# The names docs/architecture.md gave fulfillment before these were written.
order_mark_shipped_lines = order_record_shipment
order_apply_fulfillment = order_record_shipment
order_mark_delivered = order_record_delivery

__all__ = [
    "order_apply_fulfillment",
    "order_backorder_filled",
    "order_cancel",
    "order_edit",
    "order_event_record",
    "order_hold",
    "order_mark_delivered",
    "order_mark_shipped_lines",
    "order_note_add",
    "order_payment_confirm",
    "order_place",
    "order_place_grouped",
    "order_place_or_get",
    "orders_place_many",
    "PlaceRequest",
    "placement_expected",
    "order_record_delivery",
    "order_record_return",
    "order_record_shipment",
    "order_release",
]
