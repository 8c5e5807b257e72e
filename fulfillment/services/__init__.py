"""Every write in fulfillment. Other apps and the outer ring import from here.

- shipments: ``shipments_create_for_order`` (the ``orders.hooks.order_allocated``
  callback), ``shipment_create_manual``, ``shipment_split``, ``shipment_start_picking``,
  ``shipment_return_to_pending``, ``shipment_mark_packed``, ``shipment_ship``,
  ``shipment_cancel``
- tracking: ``tracking_event_record``, ``tracking_events_record_many``,
  ``shipment_poll_tracking``, ``shipment_mark_exception``, ``shipment_mark_delivered``,
  ``shipment_mark_returned_to_sender``
- returns: ``return_request_create``, ``return_approve``, ``return_reject``,
  ``return_cancel``, ``return_send_label``, ``return_receive``, ``return_inspect``,
  ``return_restock``, ``return_refund``, ``return_replace``
- carriers: ``carrier_create``, ``bin_location_set``
"""

from .carriers import bin_location_set, carrier_create
from .returns import (
    return_approve,
    return_cancel,
    return_inspect,
    return_receive,
    return_refund,
    return_reject,
    return_replace,
    return_request_create,
    return_restock,
    return_send_label,
)
from .shipments import (
    order_allocated_callback,
    shipment_cancel,
    shipment_create_manual,
    shipment_mark_packed,
    shipment_return_to_pending,
    shipment_ship,
    shipment_split,
    shipment_start_picking,
    shipments_cancel_for_order,
    shipments_create_for_order,
    shipments_reconcile_for_order,
)
from .tracking import (
    shipment_mark_delivered,
    shipment_mark_exception,
    shipment_mark_returned_to_sender,
    shipment_poll_tracking,
    tracking_event_record,
    tracking_events_record_many,
)

__all__ = [
    "bin_location_set",
    "carrier_create",
    "order_allocated_callback",
    "return_approve",
    "return_cancel",
    "return_inspect",
    "return_receive",
    "return_refund",
    "return_reject",
    "return_replace",
    "return_request_create",
    "return_restock",
    "return_send_label",
    "shipment_cancel",
    "shipment_create_manual",
    "shipment_mark_delivered",
    "shipment_mark_exception",
    "shipment_mark_packed",
    "shipment_mark_returned_to_sender",
    "shipment_poll_tracking",
    "shipment_return_to_pending",
    "shipment_ship",
    "shipment_split",
    "shipment_start_picking",
    "shipments_cancel_for_order",
    "shipments_create_for_order",
    "shipments_reconcile_for_order",
    "tracking_event_record",
    "tracking_events_record_many",
]
