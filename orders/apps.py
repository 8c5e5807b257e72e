from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from inventory import hooks as inventory_hooks

        from .services import order_backorder_filled

        inventory_hooks.register_backorder_filled(order_backorder_filled)
