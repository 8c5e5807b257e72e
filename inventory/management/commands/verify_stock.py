"""Check the ledger invariant: for every stock level, on hand equals the sum of its ledger
quantities and allocated the sum of its allocation deltas. Exits 1 and lists any drift."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inventory.models import StockLevel
from inventory.selectors import stock_drift


class Command(BaseCommand):
    help = "Verify that every stock level equals the sum of its stock movement ledger."

    def handle(self, *args: Any, **options: Any) -> None:
        drift = stock_drift()
        checked = StockLevel.objects.count()
        if not drift:
            self.stdout.write(self.style.SUCCESS(f"{checked} stock level(s) match the ledger."))
            return
        for d in drift:
            self.stdout.write(
                f"DRIFT sku={d.sku_id} warehouse={d.warehouse_id}: on_hand {d.on_hand} vs ledger "
                f"{d.ledger_on_hand}; allocated {d.allocated} vs ledger {d.ledger_allocated}"
            )
        raise CommandError(f"{len(drift)} of {checked} stock level(s) drift from the ledger.")
