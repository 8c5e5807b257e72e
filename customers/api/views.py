from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from customers import selectors, services
from customers.models import Customer
from oms.core.actors import Actor
from oms.core.api.views import ChannelAPIView
from oms.core.errors import NotFound

from .filters import CustomerFilter
from .serializers import (
    AddressInputSerializer,
    AddressSerializer,
    CustomerCreateSerializer,
    CustomerSerializer,
    CustomerUpdateSerializer,
    CustomerUpsertSerializer,
)


def _reload(view: ChannelAPIView, customer: Customer) -> dict[str, Any]:
    fresh = selectors.customer_get_for_channel(channel=view.channel, pk=customer.pk)
    return CustomerSerializer(fresh).data


class CustomerListCreateView(ChannelAPIView, ListAPIView):
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter

    def get_queryset(self) -> Any:
        if self.is_schema_generation:
            return Customer.objects.none()
        return selectors.customer_list_for_channel(channel=self.channel)

    @extend_schema(
        request=CustomerCreateSerializer,
        responses={201: CustomerSerializer},
        summary="Create a customer",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = CustomerCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.customer_create(
            channel=self.channel, actor=Actor.for_channel(self.channel), **data.validated_data
        )
        return Response(_reload(self, customer), status=status.HTTP_201_CREATED)


class CustomerUpsertView(ChannelAPIView):
    @extend_schema(
        request=CustomerUpsertSerializer,
        responses={200: CustomerSerializer, 201: CustomerSerializer},
        summary="Create or update a customer by this channel's external id",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = CustomerUpsertSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer, created = services.customer_upsert_by_reference(
            channel=self.channel, actor=Actor.for_channel(self.channel), **data.validated_data
        )
        return Response(
            _reload(self, customer),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class CustomerDetailView(ChannelAPIView):
    def _get(self, pk: int) -> Customer:
        customer = selectors.customer_get_for_channel(channel=self.channel, pk=pk)
        if customer is None:
            raise NotFound(f"No customer {pk} for this channel.")
        return customer

    @extend_schema(responses=CustomerSerializer, summary="Retrieve a customer")
    def get(self, request: Request, pk: int) -> Response:
        return Response(CustomerSerializer(self._get(pk)).data)

    @extend_schema(
        request=CustomerUpdateSerializer, responses=CustomerSerializer, summary="Update a customer"
    )
    def patch(self, request: Request, pk: int) -> Response:
        customer = self._get(pk)
        data = CustomerUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        customer = services.customer_update(
            customer=customer, actor=Actor.for_channel(self.channel), **data.validated_data
        )
        return Response(_reload(self, customer))


class CustomerAddressCreateView(ChannelAPIView):
    @extend_schema(
        request=AddressInputSerializer, responses={201: AddressSerializer}, summary="Add an address"
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, pk: int) -> Response:
        customer = selectors.customer_get_for_channel(channel=self.channel, pk=pk)
        if customer is None:
            raise NotFound(f"No customer {pk} for this channel.")
        data = AddressInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = dict(data.validated_data)
        address = services.address_add(
            customer=customer,
            kind=payload.pop("kind"),
            make_default=payload.pop("is_default"),
            data=payload,
            actor=Actor.for_channel(self.channel),
        )
        return Response(AddressSerializer(address).data, status=status.HTTP_201_CREATED)
