"""A renewal preview frozen into the Renewal row at claim time.

The claim advances the subscription past the period (consuming its one-period overrides,
applying scheduled changes), so the period's preview can no longer be recomputed from the
subscription afterwards. What the claim saw is therefore stored, and a resumed renewal
invoices and ships exactly that."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from subscriptions.selectors import RenewalItem, RenewalLine, RenewalPreview


def preview_dump(preview: RenewalPreview) -> dict[str, Any]:
    data = asdict(preview)
    for key in ("renewal_date", "period_start", "period_end"):
        data[key] = data[key].isoformat()
    data["total"] = preview.total
    return data


def preview_load(data: dict[str, Any]) -> RenewalPreview:
    fields = dict(data)
    fields.pop("total", None)
    for key in ("renewal_date", "period_start", "period_end"):
        fields[key] = dt.date.fromisoformat(fields[key])
    fields["items"] = [RenewalItem(**item) for item in fields.get("items", [])]
    fields["lines"] = [RenewalLine(**line) for line in fields.get("lines", [])]
    return RenewalPreview(**fields)
