from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = "Fulfillment: shipments, tracking and returns"

    def ready(self) -> None:
        from orders import hooks

        from .services.shipments import (
            order_allocated_callback,
            order_cancelled_callback,
            orders_placed_callback,
        )

        # Shipments are planned inside the transaction that allocated the order, and
        # dropped inside the one that cancelled it.
        hooks.order_allocated.register(order_allocated_callback)
        hooks.orders_placed.register(orders_placed_callback)
        hooks.order_cancelled.register(order_cancelled_callback)
