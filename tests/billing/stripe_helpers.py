"""Making Stripe objects in localstripe for tests, through the same SDK the app uses."""

from __future__ import annotations

from typing import Any

from billing.gateway import StripeGateway

CARD_OK = "4242424242424242"
CARD_DECLINE = "4000000000000341"  # attaches, then every charge is declined
CARD_INSUFFICIENT = "4000000000009995"  # localstripe refuses it at attach time
CARD_3DS = "4000002760003184"  # the charge requires authentication


def create_card(gateway: StripeGateway, number: str = CARD_OK) -> str:
    pm = gateway.client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    return pm.id


def save_card(
    gateway: StripeGateway, customer: Any, number: str = CARD_OK, *, default: bool = True
) -> Any:
    """A card collected by a SetupIntent, as the portal does it, saved through the service."""
    from billing.services import payment_method_sync, setup_intent_create
    from oms.core.actors import Actor

    si = setup_intent_create(customer=customer, gateway=gateway)
    pm_id = create_card(gateway, number)
    confirmed = gateway.client.v1.setup_intents.confirm(si.id, params={"payment_method": pm_id})
    if confirmed.status == "succeeded":
        return payment_method_sync(
            setup_intent_id=si.id,
            actor=Actor.system("tests"),
            gateway=gateway,
            make_default=default,
            retry_dunning=False,
        )
    # A 3-D Secure card: saving it needs the customer on-session; attach it directly, as if
    # they had authenticated, so that later off-session charges meet the bank's challenge.
    from billing.services import payment_method_save

    info = gateway.attach_payment_method(
        payment_method_id=pm_id, customer_id=customer.stripe_customer_id
    )
    return payment_method_save(
        customer=customer, stripe_payment_method_id=info.id, brand=info.brand, last4=info.last4,
        exp_month=info.exp_month, exp_year=info.exp_year, actor=Actor.system("tests"),
        make_default=default, retry_dunning=False,
    )  # fmt: skip


def payment_intents_for(gateway: StripeGateway, customer_stripe_id: str) -> list[dict[str, Any]]:
    """Every PaymentIntent localstripe holds for this customer (list by customer is refused
    by localstripe, so filter the full list)."""
    page = gateway.client.v1.payment_intents.list(params={"limit": 100})
    return [
        pi.to_dict()
        for pi in page.auto_paging_iter()
        if pi.to_dict().get("customer") == customer_stripe_id
    ]
