"""Pages: the signed inbound tracking webhook (per carrier), printable pick lists and
packing slips, and shipping labels (staff only)."""

from __future__ import annotations

import logging

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from inventory.models import Warehouse
from oms.core.actors import Actor

from . import errors, selectors, services
from .carriers import CarrierError, get_adapter
from .models import TrackingSource
from .statuses import OPEN_STATUSES, ShipmentStatus

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1_000_000


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


@csrf_exempt
@require_POST
def carrier_webhook(request: HttpRequest, code: str) -> HttpResponse:
    """A carrier posts tracking scans, signed with its webhook secret (HMAC-SHA256 in the
    ``X-Carrier-Signature`` header). Nothing is stored unless the signature is good."""
    carrier = selectors.carrier_get(code=code)
    if carrier is None or not carrier.is_active:
        return _error(404, errors.UNKNOWN_CARRIER, f"No active carrier '{code}'.")
    if len(request.body) > MAX_WEBHOOK_BYTES:
        return _error(413, errors.INVALID_EVENT, "Body too large.")
    try:
        adapter = get_adapter(carrier.config(), carrier.adapter)
    except CarrierError as exc:
        return _error(404, errors.UNKNOWN_CARRIER, str(exc))
    if not adapter.supports_webhooks or not adapter.verify_signature(
        body=request.body, headers=request.headers
    ):
        logger.warning("Rejected a tracking webhook for %s: bad signature", code)
        return _error(401, errors.BAD_SIGNATURE, "Missing or invalid signature.")
    try:
        updates = adapter.parse_webhook(request.body)
    except CarrierError as exc:
        return _error(400, errors.INVALID_EVENT, str(exc))
    results = services.tracking_events_record_many(
        carrier=carrier,
        updates=updates,
        source=TrackingSource.WEBHOOK,
        actor=Actor.system(f"carrier:{carrier.code}"),
    )
    return JsonResponse(
        {
            "received": len(results),
            "stored": sum(1 for _, created in results if created),
            "applied": sum(1 for event, created in results if created and event.applied),
            "duplicates": sum(1 for _, created in results if not created),
        }
    )


@staff_member_required
@require_GET
def pick_list(request: HttpRequest, warehouse_code: str) -> HttpResponse:
    """Everything to pick at a warehouse, batched by SKU and bin (``?status=picking`` for the
    shipments already being picked)."""
    warehouse = get_object_or_404(Warehouse, code=warehouse_code)
    status = request.GET.get("status", ShipmentStatus.PENDING)
    if status not in OPEN_STATUSES:
        raise Http404("Pick lists cover pending, picking or packed shipments.")
    rows = selectors.pick_list(warehouse_id=warehouse.pk, statuses=[status])
    shipments = list(
        selectors.shipments_for_pick_list(warehouse_id=warehouse.pk, statuses=[status])
    )
    return render(
        request,
        "fulfillment/pick_list.html",
        {
            "warehouse": warehouse,
            "status": ShipmentStatus(status),
            "rows": rows,
            "shipments": shipments,
            "units": sum(r.quantity for r in rows),
            "printed_at": timezone.now(),
        },
    )


@staff_member_required
@require_GET
def packing_slip(request: HttpRequest, pk: int) -> HttpResponse:
    shipment = selectors.shipment_detail(pk=pk)
    if shipment is None:
        raise Http404("No such shipment.")
    return render(
        request,
        "fulfillment/packing_slip.html",
        {"shipment": shipment, "order": shipment.order, "lines": list(shipment.lines.all())},
    )


LABEL_TYPES = {"pdf": "application/pdf", "png": "image/png", "zpl": "application/zpl"}


@staff_member_required
@require_GET
def shipping_label(request: HttpRequest, pk: int) -> HttpResponse:
    shipment = selectors.shipment_detail(pk=pk)
    if shipment is None or not shipment.label_data:
        raise Http404("No stored label for this shipment.")
    content_type = LABEL_TYPES.get(shipment.label_format, "application/octet-stream")
    response = HttpResponse(bytes(shipment.label_data), content_type=content_type)
    response["Content-Disposition"] = (
        f'inline; filename="{shipment}-label.{shipment.label_format or "bin"}"'
    )
    return response
