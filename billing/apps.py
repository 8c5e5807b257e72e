from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing: invoices, payments and dunning"

    def ready(self) -> None:
        from orders import hooks as order_hooks
        from subscriptions import hooks as subscription_hooks

        from .services.accounts import order_tax_calculator, subscription_adjustments_invoice

        order_hooks.refund_requester.register(_refund_requested)
        order_hooks.tax_calculator.register(order_tax_calculator)
        subscription_hooks.register_adjustments_created(subscription_adjustments_invoice)


def _refund_requested(*, order, amount, reason, actor):  # noqa: ANN001, ANN202 - hook signature
    """orders.hooks.refund_requester: runs after the cancel committed."""
    from .services.refunds import refund_for_order

    refund_for_order(order=order, amount=amount, reason=reason, actor=actor)
