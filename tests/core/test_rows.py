"""oms.core.rows.new_row builds the instance Model(**values) builds."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.db.models.signals import post_init

from oms.core.bulk import historical_model
from oms.core.rows import new_row
from orders.models import Order, OrderEvent, OrderLine
from tests.factories.orders import place_order

pytestmark = pytest.mark.django_db

PROJECT_APPS = {"core", "customers", "inventory", "orders", "subscriptions", "billing"}
PROJECT_APPS |= {"fulfillment", "renewal"}


def _state(obj):
    """Everything an instance holds, clocks aside (two calls to now() differ)."""
    values = {
        k: v for k, v in obj.__dict__.items() if k != "_state" and not isinstance(v, dt.datetime)
    }
    clocks = sorted(k for k, v in obj.__dict__.items() if isinstance(v, dt.datetime))
    return values, clocks, obj._state.adding, obj._state.db, dict(obj._state.fields_cache)


@pytest.mark.parametrize(
    "model",
    [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS],
    ids=lambda m: m._meta.label,
)
def test_defaults_match_model_init_for_every_model(model):
    assert _state(new_row(model)) == _state(model())


def test_values_ids_and_related_objects_match_model_init(channel):
    order = place_order(channel=channel)
    line = order.lines.first()
    for model, values in [
        (OrderEvent, {"order": order, "kind": "note", "message": "m", "payload": {"a": [1]}}),
        (OrderEvent, {"order_id": order.pk, "kind": "note", "actor_label": "ops"}),
        (OrderLine, {"order": order, "sku_id": line.sku_id, "quantity": 3, "unit_price": 5}),
        (OrderLine, {"order": order, "order_id": order.pk + 1000, "sku": line.sku}),
    ]:
        fast, slow = new_row(model, **values), model(**values)
        assert _state(fast) == _state(slow)
        assert type(fast) is model and fast._state.adding and fast.pk is None
    history = historical_model(Order)
    tracked = {f.attname: getattr(order, f.attname) for f in history.tracked_fields}
    values = {"history_type": "+", "history_change_reason": "", **tracked}
    assert _state(new_row(history, **values)) == _state(history(**values))


def test_unsaved_related_objects_are_refused_as_by_django(channel):
    order = place_order(channel=channel)
    with pytest.raises(ValueError, match="Cannot assign"):
        new_row(OrderEvent, order=line_of(order))  # not an Order


def line_of(order):
    return order.lines.first()


def test_properties_and_signal_listeners_take_django_own_path(channel):
    order = place_order(channel=channel)
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(listener, sender=OrderEvent)
    try:
        event = new_row(OrderEvent, order=order, kind="note")
    finally:
        post_init.disconnect(listener, sender=OrderEvent)
    assert seen == [event]
    with pytest.raises(TypeError, match="unexpected keyword"):
        new_row(OrderEvent, order=order, no_such_field=1)
