"""Proration of a change inside a billed period, exact to the minor unit.

A period ``[start, end)`` of ``D`` days is billed ``billed`` minor units up front. The customer
then receives value in *segments*: ``total_i`` (price × quantity of the plan in force) per
period, for ``days_i`` days. The exact value received is ``Σ total_i × days_i / D``; its
numerator ``Σ total_i × days_i`` is an integer (minor-unit-days), kept on the subscription as
``period_consumed`` up to ``period_segment_start``.

The rule, at a change on day ``t`` from ``old_total`` to ``new_total``:

    used_num = consumed + old_total × (t − segment_start)          exact, minor-unit-days
    used     = round(used_num / D)                                  value used so far
    credit   = used − billed                                        (≤ 0: unused part refunded)
    charge   = round((used_num + new_total × (end − t)) / D) − used (rest of period, new plan)

``round`` is the house rule (``oms.core.money.round_minor``): the exact quotient, rounded once
to the nearest minor unit, halves away from zero. The division is done in Decimal with enough
precision that a half is always seen exactly, so nothing is rounded twice.

Why the cumulative form: after any number of changes the period has been billed exactly
``round(Σ total_i × days_i / D)`` — the value actually given, rounded once — because every
adjustment is the difference of two such roundings and they telescope. (Crediting
``round(old × remaining / D)`` and charging ``round(new × remaining / D)`` independently would
drift by up to a minor unit per change.) Example: 1000 → 2000 on day 15 of a 30-day period:
used = 500, credit = −500, charge = round((15000 + 30000) / 30) − 500 = 1000, net +500.

An immediate cancellation is a change to ``new_total = 0``: the credit refunds the unused part.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, localcontext

from oms.core.money import round_minor


def round_div(numerator: int, denominator: int) -> int:
    with localcontext() as ctx:
        ctx.prec = 80
        return round_minor(Decimal(numerator) / Decimal(denominator))


@dataclass(frozen=True)
class ProrationState:
    period_start: dt.date
    period_end: dt.date
    billed: int
    consumed: int
    segment_start: dt.date

    @property
    def days(self) -> int:
        return (self.period_end - self.period_start).days


@dataclass(frozen=True)
class Proration:
    on: dt.date
    used_days: int
    remaining_days: int
    period_days: int
    credit: int
    charge: int
    state_after: ProrationState

    @property
    def net(self) -> int:
        return self.credit + self.charge


def prorate(state: ProrationState, *, on: dt.date, old_total: int, new_total: int) -> Proration:
    """Credit and charge for switching from ``old_total`` to ``new_total`` per period on day
    ``on`` (clamped into the current segment: a change before the segment began counts from
    it, one after the period ended has nothing left to prorate)."""
    days = state.days
    t = min(max(on, state.segment_start), state.period_end)
    used_num = state.consumed + old_total * (t - state.segment_start).days
    used = round_div(used_num, days)
    remaining = (state.period_end - t).days
    new_billed = round_div(used_num + new_total * remaining, days)
    return Proration(
        on=t,
        used_days=(t - state.period_start).days,
        remaining_days=remaining,
        period_days=days,
        credit=used - state.billed,
        charge=new_billed - used,
        state_after=ProrationState(
            period_start=state.period_start,
            period_end=state.period_end,
            billed=new_billed,
            consumed=used_num,
            segment_start=t,
        ),
    )
