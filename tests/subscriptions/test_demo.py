import random
import time

import time_machine

from subscriptions import demo
from subscriptions.models import Plan, Subscription
from tests.factories.customers import AddressFactory, CustomerFactory


class Ctx:
    def __init__(self, customers):
        self.rng = random.Random(7)
        self.scale = 1
        self.shared = {"customers": customers}
        self.logged = []

    def progress(self, label, items, total=None):
        return iter(items)

    def log(self, message):
        self.logged.append(message)


@time_machine.travel("2026-06-15 12:00:00+00:00", tick=False)
def test_demo_seeds_three_plans_and_subscriptions_in_many_states_idempotently(db):
    customers = [CustomerFactory() for _ in range(20)]
    for customer in customers:
        AddressFactory(customer=customer)
    started = time.monotonic()
    demo.seed(Ctx(customers))
    assert set(Plan.objects.values_list("code", flat=True)) == {
        "coffee-monthly",
        "snack-biweekly",
        "club-yearly",
    }
    count = Subscription.objects.count()
    assert count == 60  # every (customer, plan) pair once
    statuses = set(Subscription.objects.values_list("status", flat=True))
    assert {"active", "paused", "past_due", "cancelled"} <= statuses
    assert Subscription.objects.filter(cancel_at_period_end=True).exists()
    assert not Subscription.objects.filter(
        status="active", next_renewal_date__lt="2026-06-15"
    ).exists()
    demo.seed(Ctx(customers))
    assert Subscription.objects.count() == count
    assert time.monotonic() - started < 60
