"""Orders with their parcels and tracking links, and invoices handed out as billing's signed
pages — only the customer's own."""

import datetime as dt

import pytest

from billing.models import InvoiceStatus
from fulfillment.carriers.base import TrackingUpdate
from fulfillment.models import Shipment
from fulfillment.services import tracking_event_record
from oms.core.actors import Actor
from tests.factories.billing import PaymentMethodFactory, make_invoice
from tests.factories.core import ChannelFactory
from tests.factories.fulfillment import CarrierFactory
from tests.factories.orders import place_order, stocked_sku
from tests.fulfillment.helpers import pack_and_ship

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


@pytest.fixture
def shipped_order(portal_customer):
    """An order of 2 units, allocated, packed and shipped with a tracking number, and one
    carrier scan (in transit)."""
    sku = stocked_sku(price=1500, name="Grinder")
    order = place_order(channel=ChannelFactory(), customer=portal_customer, lines=[(sku, 2)])
    shipment = Shipment.objects.get(order=order)
    carrier = CarrierFactory(code="post", name="Post")
    pack_and_ship(shipment, carrier, tracking_number="TRACK123")
    tracking_event_record(
        carrier=carrier,
        update=TrackingUpdate(
            carrier_event_id="ev-1",
            tracking_number="TRACK123",
            status="in_transit",
            occurred_at=dt.datetime(2026, 3, 10, 9, 30, tzinfo=dt.UTC),
            location="Hub North",
        ),
        source="webhook",
        actor=ACTOR,
    )
    order.refresh_from_db()
    return order


def test_order_list_with_tracking_link(portal_client, shipped_order, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        body = portal_client.get("/portal/orders/").content.decode()
    assert shipped_order.number in body
    assert 'href="https://track.example/TRACK123"' in body
    assert "In transit" in body


def test_order_list_query_count_is_bounded(
    portal_client, portal_customer, django_assert_max_num_queries
):
    sku = stocked_sku(price=1000)
    channel = ChannelFactory()
    for _ in range(5):
        place_order(channel=channel, customer=portal_customer, lines=[(sku, 1)])
    with django_assert_max_num_queries(8):
        body = portal_client.get("/portal/orders/").content.decode()
    assert body.count("data-order-id") == 5


def test_order_detail_shows_lines_parcels_and_scans(portal_client, shipped_order):
    body = portal_client.get(f"/portal/orders/{shipped_order.pk}/").content.decode()
    assert f"Order {shipped_order.number}" in body
    assert "Grinder" in body
    assert "2 × " in body
    assert "Track TRACK123" in body
    assert "Hub North" in body
    assert f"{shipped_order.total / 100:,.2f} USD" in body


def test_someone_elses_order_is_not_found(portal_client, make_portal_customer):
    other = make_portal_customer()
    theirs = place_order(channel=ChannelFactory(), customer=other, lines=[(stocked_sku(), 1)])
    assert portal_client.get(f"/portal/orders/{theirs.pk}/").status_code == 404
    assert theirs.number not in portal_client.get("/portal/orders/").content.decode()


def test_invoices_list_links_to_the_signed_invoice_and_payment_pages(
    portal_client, portal_customer
):
    paid_like = make_invoice(customer=portal_customer, amounts=[1000], currency="USD")
    draft = make_invoice(customer=portal_customer, amounts=[500], currency="USD", finalize=False)
    PaymentMethodFactory(
        customer=portal_customer, brand="visa", last4="4242", exp_month=3, exp_year=2031
    )

    body = portal_client.get("/portal/invoices/").content.decode()

    assert paid_like.status == InvoiceStatus.OPEN
    assert paid_like.number in body
    assert draft.number not in body  # drafts are not shown
    assert "Visa ending in 4242, expires 03/2031" in body
    assert 'id="update-card"' in body

    view = portal_client.get(f"/portal/invoices/{paid_like.pk}/")
    assert view.status_code == 302 and view["Location"].startswith("/billing/i/")
    printed = portal_client.get(view["Location"])
    assert printed.status_code == 200
    assert paid_like.number in printed.content.decode()

    pay = portal_client.get(f"/portal/invoices/{paid_like.pk}/pay/")
    assert pay.status_code == 302 and pay["Location"].startswith("/billing/pay/")


def test_someone_elses_invoice_is_not_found(portal_client, make_portal_customer):
    theirs = make_invoice(customer=make_portal_customer(), amounts=[1000], currency="USD")
    assert portal_client.get(f"/portal/invoices/{theirs.pk}/").status_code == 404
    assert portal_client.get(f"/portal/invoices/{theirs.pk}/pay/").status_code == 404
    assert theirs.number not in portal_client.get("/portal/invoices/").content.decode()


def test_nothing_to_pay_goes_back_to_the_list(portal_client, portal_customer):
    from billing.services import invoice_void

    invoice = make_invoice(customer=portal_customer, amounts=[1000], currency="USD")
    invoice_void(invoice=invoice, reason="test", actor=ACTOR)
    response = portal_client.get(f"/portal/invoices/{invoice.pk}/pay/")
    assert response.status_code == 302 and response["Location"] == "/portal/invoices/"


def test_invoice_list_query_count_is_bounded(
    portal_client, portal_customer, django_assert_max_num_queries
):
    for amount in (1000, 2000, 3000, 4000):
        make_invoice(customer=portal_customer, amounts=[amount], currency="USD")
    with django_assert_max_num_queries(7):
        body = portal_client.get("/portal/invoices/").content.decode()
    assert body.count("data-invoice-id") == 4


def test_request_a_return_of_shipped_units(portal_client, shipped_order):
    from fulfillment.models import ReturnRequest

    line = shipped_order.lines.get()
    page = portal_client.get(f"/portal/orders/{shipped_order.pk}/").content.decode()
    assert 'id="request-return"' in page
    url = f"/portal/orders/{shipped_order.pk}/return/"
    form = portal_client.get(url).content.decode()
    assert f'name="qty_{line.pk}"' in form and "up to 2" in form

    too_many = portal_client.post(
        url, {f"qty_{line.pk}": 3, "reason": "damaged", "resolution": "refund"}
    )
    assert too_many.status_code == 200
    assert "less than or equal to 2" in too_many.content.decode()
    nothing = portal_client.post(
        url, {f"qty_{line.pk}": 0, "reason": "damaged", "resolution": "refund"}
    )
    assert "Choose at least one item to return." in nothing.content.decode()
    assert not ReturnRequest.objects.exists()

    done = portal_client.post(
        url,
        {
            f"qty_{line.pk}": 1,
            "reason": "damaged",
            "resolution": "replacement",
            "customer_note": "Box was crushed",
        },
    )

    assert done.status_code == 302
    rma = ReturnRequest.objects.get(order=shipped_order)
    assert (rma.status, rma.reason, rma.resolution, rma.customer_note) == (
        "requested",
        "damaged",
        "replacement",
        "Box was crushed",
    )
    assert [(rl.order_line_id, rl.quantity) for rl in rma.lines.all()] == [(line.pk, 1)]
    page = portal_client.get(f"/portal/orders/{shipped_order.pk}/").content.decode()
    assert f'data-return-id="{rma.pk}"' in page
    # One unit is left to return; the form now offers at most that.
    assert "up to 1" in portal_client.get(url).content.decode()


def test_nothing_returnable_before_shipping(portal_client, portal_customer):
    order = place_order(
        channel=ChannelFactory(), customer=portal_customer, lines=[(stocked_sku(), 1)]
    )
    response = portal_client.get(f"/portal/orders/{order.pk}/return/")
    assert response.status_code == 302 and response["Location"] == f"/portal/orders/{order.pk}/"


def test_cannot_return_someone_elses_order(portal_client, make_portal_customer):
    theirs = place_order(
        channel=ChannelFactory(), customer=make_portal_customer(), lines=[(stocked_sku(), 1)]
    )
    assert portal_client.post(f"/portal/orders/{theirs.pk}/return/", {}).status_code == 404
