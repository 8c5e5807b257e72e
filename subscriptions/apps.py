from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"

    def ready(self) -> None:
        from inventory.hooks import register_renewal_demand

        from .selectors import renewal_demand

        register_renewal_demand(renewal_demand)
