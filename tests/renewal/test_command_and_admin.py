"""``manage.py renew`` (dry run writes nothing; the real run prints its summary), the beat
schedule created by the data migration, and the admin's run list and drill-down."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse

from billing.models import Invoice
from subscriptions.renewal.models import Renewal, RenewalRun, RenewalState
from tests.factories.subscriptions import make_plan
from tests.renewal.conftest import subscribe

D = dt.date
pytestmark = pytest.mark.django_db


def _row_counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def test_dry_run_prints_renewals_amounts_and_stock_needed_and_writes_nothing(
    box_plan, catalog, gateway
):
    subscribe(box_plan)
    subscribe(box_plan, start=D(2026, 2, 10))
    subscribe(make_plan(price=900, items=[(catalog["rare"], 1)]))
    before = _row_counts()
    out = StringIO()

    call_command("renew", "--as-of", "2026-02-20", "--dry-run", stdout=out)

    assert _row_counts() == before, "a dry run writes no row anywhere"
    assert gateway.calls == []
    text = out.getvalue()
    assert "2026-01-15 – 2026-02-15" in text and "2026-02-15 – 2026-03-15" in text  # catch-up
    assert "2026-02-10 – 2026-03-10" in text
    assert "25.00 USD" in text and "Amounts: 93.00 USD" in text  # 3 × 25.00 + 2 × 9.00
    stock = text.split("Stock needed:")[1]
    assert "BEANS" in stock and "RARE" in stock
    rare_line = next(line for line in stock.splitlines() if line.startswith("RARE"))
    assert rare_line.split()[1:] == ["2", "0", "2"]  # needed, available, short


def test_renew_command_runs_the_cycle_and_prints_a_summary(box_plan, gateway):
    subs = [subscribe(box_plan) for _ in range(3)]
    out, err = StringIO(), StringIO()

    call_command("renew", "--as-of", "2026-01-15", "--limit", "2", stdout=out, stderr=err)

    assert Renewal.objects.filter(state=RenewalState.DONE).count() == 2
    assert "2/2" in err.getvalue()  # the progress bar
    summary = out.getvalue().splitlines()
    assert summary[0].split()[:4] == ["run", "as", "of", "due"]
    run = RenewalRun.objects.get()
    assert summary[2].split()[:4] == [str(run.pk), "2026-01-15", "2", "2"]
    call_command("renew", "--as-of", "2026-01-15", "--no-progress", stdout=StringIO())
    assert {r.subscription_id for r in Renewal.objects.all()} == {s.pk for s in subs}
    assert Invoice.objects.count() == 3


def test_the_data_migration_schedules_the_nightly_task_in_celery_beat(settings):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="subscriptions.renewal.tasks.run_renewals")
    assert task.enabled and task.crontab is not None
    assert task.crontab.hour == str(settings.OMS_RENEWAL_HOUR_UTC)
    assert str(task.crontab.timezone) == "UTC"


def test_the_task_is_registered_with_acks_late():
    from oms.celery import app
    from subscriptions.renewal.tasks import run_renewals

    registered = app.tasks["subscriptions.renewal.tasks.run_renewals"]
    assert registered.name == run_renewals.name
    assert registered.acks_late is True


def test_the_nightly_task_runs_with_the_configured_threads(monkeypatch, settings):
    import subscriptions.renewal.tasks as tasks

    seen = {}

    class Run:
        pk, due, renewed, failed_payment, backordered, skipped, errored = 1, 0, 0, 0, 0, 0, 0

    def fake_run(**kwargs):
        seen.update(kwargs)
        return Run()

    monkeypatch.setattr(tasks, "renewal_run_execute", fake_run)
    monkeypatch.setattr(tasks, "renewal_reminders_send", lambda **kwargs: 0)
    settings.OMS_RENEWAL_THREADS = 4
    result = tasks.run_renewals("2026-01-15")
    assert seen["threads"] == 4 and seen["as_of"] == D(2026, 1, 15)
    assert result["as_of"] == "2026-01-15"


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return client


def _batch_down(**kwargs):
    raise RuntimeError("batch ordering unavailable")


def test_admin_lists_runs_with_counts_and_drills_down_to_errors(
    staff_client, box_plan, catalog, gateway, monkeypatch, django_assert_max_num_queries
):
    import orders.services as order_services

    for _ in range(3):
        subscribe(box_plan)
    real = order_services.order_place_or_get
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("carrier API down")
        return real(**kwargs)

    monkeypatch.setattr(order_services, "order_place_or_get", flaky)
    # The batch ordering path is down too, so each renewal is ordered on its own.
    monkeypatch.setattr(order_services, "orders_place_many", _batch_down)
    run = __import__("subscriptions.renewal.cycle", fromlist=["x"]).renewal_run_execute(
        as_of=D(2026, 1, 15)
    )
    assert (run.renewed, run.errored) == (2, 1)

    with django_assert_max_num_queries(12):
        page = staff_client.get(reverse("admin:subscriptions_renewalrun_changelist"))
    assert page.status_code == 200 and b"2026" in page.content

    detail = staff_client.get(reverse("admin:subscriptions_renewalrun_change", args=[run.pk]))
    assert detail.status_code == 200
    assert f"last_run__id__exact={run.pk}&amp;state__exact=errored".encode() in detail.content

    with django_assert_max_num_queries(14):
        errored = staff_client.get(
            reverse("admin:subscriptions_renewal_changelist"),
            {"last_run__id__exact": run.pk, "state__exact": "errored"},
        )
    assert errored.status_code == 200 and b"carrier API down" in errored.content

    renewal = Renewal.objects.get(state=RenewalState.ERRORED)
    change = staff_client.get(reverse("admin:subscriptions_renewal_change", args=[renewal.pk]))
    assert change.status_code == 200 and b"carrier API down" in change.content

    response = staff_client.post(
        reverse("admin:subscriptions_renewal_changelist"),
        {
            "action": "action_retry_errored_renewals",
            "_selected_action": [renewal.pk],
            "apply": "1",
            "reason": "fixed",
        },
    )
    assert response.status_code == 302
    renewal.refresh_from_db()
    assert renewal.state == RenewalState.DONE
