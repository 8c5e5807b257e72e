import datetime as dt

from subscriptions.models import SubscriptionStatus
from subscriptions.selectors import Outcome, renewal_preview
from tests.factories.subscriptions import make_plan, make_subscription, renew

D = dt.date


def test_create_renew_and_preview(db, sku):
    plan = make_plan(price=1000, setup_fee=500, items=[(sku, 2)])
    sub = make_subscription(plan=plan, start_date=D(2026, 1, 31), quantity=2)
    preview = renewal_preview(sub)
    assert preview.outcome == Outcome.RENEW
    assert preview.period_start == D(2026, 1, 31)
    assert preview.period_end == D(2026, 2, 28)
    assert [tuple(i) for i in preview.items] == [(sku.pk, "COFFEE-1", 4)]
    assert [tuple(line) for line in preview.lines] == [
        ("plan", f"{plan.name} × 2 (2026-01-31 – 2026-02-27)", 2000),
        ("setup_fee", f"Setup fee, {plan.name}", 500),
    ]
    sub = renew(sub)
    assert sub.status == SubscriptionStatus.ACTIVE
    assert (sub.current_period_start, sub.current_period_end) == (D(2026, 1, 31), D(2026, 2, 28))
    assert sub.next_renewal_date == D(2026, 2, 28)
    assert sub.cycles_completed == 1
    assert sub.period_billed == 2000
    sub = renew(sub)
    assert sub.next_renewal_date == D(2026, 3, 31)
    assert renewal_preview(sub).total == 2000
