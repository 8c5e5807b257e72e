"""Demo customers with addresses and channel references."""

from typing import Any

from customers.models import Customer
from customers.portal.services import portal_user_invite
from customers.services import customer_create
from oms.core.actors import Actor

ORDER = 10
PORTAL_PASSWORD = "demo-portal"

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "Katherine",
    "John",
    "Radia",
    "Tim",
    "Hedy",
    "Donald",
    "Shafi",
    "Leslie",
    "Anita",
    "Niklaus",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Johnson",
    "Backus",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Knuth",
    "Goldwasser",
    "Lamport",
]
CITIES = [
    ("US", "Portland", "97201"),
    ("US", "Austin", "73301"),
    ("DE", "Berlin", "10115"),
    ("GB", "London", "EC1A 1BB"),
    ("FR", "Lyon", "69001"),
    ("NL", "Utrecht", "3511"),
]


def seed(ctx: Any) -> None:
    actor = Actor.system("demo")
    channels = ctx.shared["channels"]
    count = 120 * ctx.scale
    customers = []
    for i in ctx.progress("customers", range(count)):
        email = f"demo.customer{i:04d}@example.com"
        customer = Customer.objects.filter(email=email).first()
        if customer is None:
            country, city, postal = CITIES[i % len(CITIES)]
            channel = channels["web"] if i % 3 else channels["pos"]
            customer = customer_create(
                email=email,
                first_name=FIRST[i % len(FIRST)],
                last_name=LAST[(i * 7) % len(LAST)],
                phone=f"+1 555 {i:04d}",
                actor=actor,
                channel=channel,
                external_id=f"{channel.code.upper()}-{i:05d}",
                addresses=[
                    {
                        "kind": "shipping",
                        "line1": f"{i + 1} Market Street",
                        "city": city,
                        "postal_code": postal,
                        "country": country,
                    },
                    {
                        "kind": "billing",
                        "line1": f"{i + 1} Market Street",
                        "city": city,
                        "postal_code": postal,
                        "country": country,
                    },
                ],
            )
        customers.append(customer)
    ctx.shared["customers"] = customers
    portal_customer = customers[0]
    if portal_customer.user_id is None:
        portal_user_invite(
            customer=portal_customer, actor=actor, password=PORTAL_PASSWORD, send_email=False
        )
    ctx.log(
        f"customer portal: http://127.0.0.1:8000/portal/  login '{portal_customer.email}', "
        f"password '{PORTAL_PASSWORD}' (demo only)"
    )
