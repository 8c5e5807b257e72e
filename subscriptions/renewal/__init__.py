"""The nightly renewal cycle: every due subscription becomes an invoice, a charge, an order,
an allocation and a shipment — once per period, never twice, never silently skipped.

Outer-ring code (like ``admin.py`` or ``tasks.py``): it composes the services of every app
and no model or service of any app imports it. Its models carry the ``subscriptions`` app
label (``Meta.app_label``) so their migrations live with the subscriptions they renew; the
``renewal`` app config registers the management command, the admin, the Celery task and the
data migration that schedules the task.

Modules: ``models`` (RenewalRun, Renewal, RenewalReminder, RenewalEvent), ``claim`` (batch
claims with SKIP LOCKED plus session advisory locks), ``steps`` (one function per step, each
idempotent), ``cycle`` (a run), ``reminders``, ``planning`` (dry run), ``tasks``, ``admin``.
"""
