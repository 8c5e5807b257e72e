"""Print the subscription-aware demand forecast: SKUs that will run short first."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inventory.forecast import demand_forecast


class Command(BaseCommand):
    help = "Forecast renewal demand per SKU against available stock for the next N days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--short", action="store_true", help="Only SKUs that run short.")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = demand_forecast(days=options["days"], only_short=options["short"])
        self.stdout.write(
            f"{'SKU':<24}{'demand':>8}{'usable':>8}{'short':>8}  short on  warehouses"
        )
        for f in rows:
            where = ", ".join(f"{code}:{units}" for code, units in f.available_by_warehouse.items())
            self.stdout.write(
                f"{f.code:<24}{f.demand:>8}{f.usable:>8}{f.shortfall:>8}  "
                f"{f.short_on.isoformat() if f.short_on else '-':<12}{where}"
            )
