from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from oms.core.money import Money
from subscriptions.periods import business_today

from . import selectors
from .charts import BarRow, Series, bar_chart, column_chart

DAYS = 30
CHURN_WINDOWS = 6
RENEWAL_COLORS = {
    "renewed": "#17a673",
    "payment failed": "#d64545",
    "backordered": "#f0a500",
    "skipped": "#9aa3b5",
    "errored": "#7a1f1f",
    "in progress": "#2f5bea",
}


def _day_label(day: dt.date) -> str:
    return day.strftime("%b %d").replace(" 0", " ")


def _percent(value: Decimal | int) -> str:
    return f"{value}%"


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    today = business_today()
    mrr = selectors.mrr_summary()
    churn = selectors.churn_windows(as_of=today, days=DAYS, count=CHURN_WINDOWS)
    reasons = selectors.churn_reasons(as_of=today, days=DAYS)
    renewals = selectors.renewals_per_day(as_of=today, days=DAYS)
    orders = selectors.orders_per_day(as_of=today, days=DAYS)
    low_stock, low_stock_total = selectors.stock_below_reorder_point()

    day_labels = [_day_label(d) for d in renewals.days]
    charts = {
        "churn": column_chart(
            title="Churn per 30-day window",
            labels=[_day_label(w.end) for w in churn],
            series=[Series("churn %", [w.percent or Decimal(0) for w in churn], "#d64545")],
            value_format=_percent,
            height=200,
        ),
        "renewals": column_chart(
            title="Renewals per day",
            labels=day_labels,
            series=[
                Series(name, values, RENEWAL_COLORS[name])
                for name, values in renewals.series.items()
                if any(values)
            ]
            or [Series("renewed", [0] * DAYS, RENEWAL_COLORS["renewed"])],
        ),
        "orders": column_chart(
            title="Orders per day",
            labels=[_day_label(d) for d in orders.days],
            series=[Series(origin.replace("_", " "), v) for origin, v in orders.by_origin.items()]
            or [Series("orders", [0] * DAYS)],
        ),
        "stock": bar_chart(
            title="Available stock against reorder point",
            rows=[
                BarRow(
                    f"{row.sku_code} @ {row.warehouse_code}",
                    row.available,
                    marker=row.reorder_point,
                    note=f"short by {row.shortfall}",
                )
                for row in low_stock
            ],
            color="#f0a500",
            marker_name="reorder point",
        ),
    }
    # One MRR chart per currency: amounts in different currencies share no scale.
    mrr_charts = [
        (
            total,
            mrr.subscriptions_by_currency[total.currency],
            bar_chart(
                title=f"MRR by plan in {total.currency}",
                rows=[
                    BarRow(
                        p.plan_name,
                        p.mrr.amount,
                        display=str(p.mrr),
                        note=f"{p.subscriptions} subscriptions",
                    )
                    for p in mrr.by_plan
                    if p.mrr.currency == total.currency
                ],
            ),
        )
        for total in mrr.by_currency
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Operator dashboard",
        "today": today,
        "days": DAYS,
        "mrr": mrr,
        "churn_now": churn[-1],
        "churn": churn,
        "reasons": reasons,
        "renewals": renewals,
        "renewed_total": renewals.total("renewed"),
        "orders": orders,
        "order_value": [Money(v, c) for c, v in orders.revenue.items()],
        "low_stock": low_stock,
        "low_stock_total": low_stock_total,
        "charts": charts,
        "mrr_charts": mrr_charts,
    }
    return render(request, "dashboard/index.html", context)
