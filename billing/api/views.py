"""Channel API: invoices and payments of the channel's own customers (read-only)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors
from billing.models import Invoice, PaymentAttempt
from oms.core.api.views import ChannelAPIView
from oms.core.errors import NotFound

from .filters import InvoiceFilter, PaymentFilter
from .serializers import InvoiceSerializer, PaymentSerializer


class InvoiceListView(ChannelAPIView, ListAPIView):
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter

    def get_queryset(self) -> Any:
        if self.is_schema_generation:
            return Invoice.objects.none()
        return selectors.invoice_list_for_channel(channel=self.channel)

    @extend_schema(summary="List invoices of this channel's customers")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class InvoiceDetailView(ChannelAPIView):
    @extend_schema(responses=InvoiceSerializer, summary="Retrieve an invoice")
    def get(self, request: Request, pk: int) -> Response:
        invoice = selectors.invoice_get_for_channel(channel=self.channel, pk=pk)
        if invoice is None:
            raise NotFound(f"No invoice {pk} for this channel.")
        return Response(InvoiceSerializer(invoice).data)


class PaymentListView(ChannelAPIView, ListAPIView):
    serializer_class = PaymentSerializer
    filterset_class = PaymentFilter

    def get_queryset(self) -> Any:
        if self.is_schema_generation:
            return PaymentAttempt.objects.none()
        return selectors.payment_list_for_channel(channel=self.channel)

    @extend_schema(summary="List payments (charge attempts) of this channel's customers")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PaymentDetailView(ChannelAPIView):
    @extend_schema(responses=PaymentSerializer, summary="Retrieve a payment")
    def get(self, request: Request, pk: int) -> Response:
        payment = selectors.payment_get_for_channel(channel=self.channel, pk=pk)
        if payment is None:
            raise NotFound(f"No payment {pk} for this channel.")
        return Response(PaymentSerializer(payment).data)
