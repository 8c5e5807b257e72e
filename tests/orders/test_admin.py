import pytest

from orders.models import OrderEvent, OrderStatus
from tests.factories.customers import CustomerFactory
from tests.factories.orders import place_order, stocked_sku
from tests.orders.conftest import level

pytestmark = pytest.mark.django_db

URL = "/admin/orders/order/"


def test_changelist_search_and_filters(admin_client, channel, backorder_channel, warehouse):
    sku = stocked_sku(quantity=3, warehouse=warehouse)
    found = place_order(
        channel=channel,
        lines=[(sku, 1)],
        external_id="EXT-77",
        customer=CustomerFactory(email="findme@example.com"),
    )
    waiting = place_order(channel=backorder_channel, lines=[(sku, 5)])
    for term in (found.number, "findme@example.com", "EXT-77"):
        response = admin_client.get(URL, {"q": term})
        assert response.status_code == 200
        assert (
            found.number.encode() in response.content
            and waiting.number.encode() not in response.content
        )
    response = admin_client.get(URL, {"has_backorder": "yes"})
    assert (
        waiting.number.encode() in response.content
        and found.number.encode() not in response.content
    )
    for params in (
        {"status__exact": "allocated"},
        {"origin__exact": "one_off"},
        {"channel__id__exact": channel.pk},
    ):
        assert admin_client.get(URL, params).status_code == 200


def test_change_page_shows_lines_and_timeline_read_only(admin_client, channel, warehouse):
    order = place_order(channel=channel, lines=[(stocked_sku(warehouse=warehouse), 2)])
    response = admin_client.get(f"{URL}{order.pk}/change/")
    assert response.status_code == 200
    assert (
        b"timeline" in response.content.lower()
        and order.lines.get().sku_code.encode() in response.content
    )
    assert b'name="status"' not in response.content  # status is never a form field
    assert admin_client.get(f"{URL}{order.pk}/history/").status_code == 200
    # A crafted POST cannot change the status either.
    admin_client.post(f"{URL}{order.pk}/change/", {"status": "delivered"})
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED


def test_cancel_action_asks_for_a_reason_then_calls_the_service(admin_client, channel, warehouse):
    sku = stocked_sku(quantity=5, warehouse=warehouse)
    order = place_order(channel=channel, lines=[(sku, 2)])
    action = "action_cancel_orders"
    ask = admin_client.post(URL, {"action": action, "_selected_action": [order.pk]})
    assert ask.status_code == 200 and b"reason" in ask.content
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED and level(sku, warehouse).allocated == 2
    admin_client.post(
        URL, {"action": action, "_selected_action": [order.pk], "apply": "1", "reason": "fraud"}
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and level(sku, warehouse).allocated == 0
    event = OrderEvent.objects.get(order=order, kind="cancelled")
    assert event.actor_kind == "user" and event.actor_label == "admin" and event.message == "fraud"


def test_hold_and_release_actions(admin_client, channel, warehouse):
    order = place_order(channel=channel, lines=[(stocked_sku(warehouse=warehouse), 1)])
    admin_client.post(
        URL,
        {
            "action": "action_put_orders_on_hold",
            "_selected_action": [order.pk],
            "apply": "1",
            "reason": "address",
        },
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    admin_client.post(
        URL,
        {
            "action": "action_release_orders_from_hold",
            "_selected_action": [order.pk],
            "apply": "1",
            "reason": "ok",
        },
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED


def test_changelist_query_count_does_not_grow_with_orders(
    admin_client, channel, warehouse, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sku = stocked_sku(quantity=100, warehouse=warehouse)
    for _ in range(2):
        place_order(channel=channel, lines=[(sku, 1)])
    with CaptureQueriesContext(connection) as few:
        admin_client.get(URL)
    for _ in range(10):
        place_order(channel=channel, lines=[(sku, 1)])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get(URL).status_code == 200
