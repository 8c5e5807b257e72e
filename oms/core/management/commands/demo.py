"""Seed realistic demo data. Each app contributes a ``<app>/demo.py`` with

    ORDER = 10            # apps seed in ascending ORDER (customers before orders...)
    def seed(ctx): ...    # idempotent: running the command twice duplicates nothing

``ctx`` is a DemoContext: a seeded ``random.Random``, ``progress(label, iterable)`` and a dict
``shared`` where earlier seeders leave what later ones need (channels, customers...)."""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

T = TypeVar("T")

DEMO_ADMIN = ("admin", "admin")


@dataclass
class DemoContext:
    command: BaseCommand
    rng: random.Random
    scale: int = 1
    shared: dict[str, Any] = field(default_factory=dict)

    def progress(self, label: str, items: Iterable[T], total: int | None = None) -> Iterator[T]:
        items = list(items) if total is None else items
        total = total if total is not None else len(items)  # type: ignore[arg-type]
        step = max(1, total // 20)
        for i, item in enumerate(items, start=1):
            if i == 1 or i % step == 0 or i == total:
                self.command.stdout.write(f"\r  {label}: {i}/{total}", ending="")
                self.command.stdout.flush()
            yield item
        self.command.stdout.write("")

    def log(self, message: str) -> None:
        self.command.stdout.write(f"  {message}")


def _seeders() -> list[tuple[int, str, Any]]:
    found = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.demo":
                raise
            continue
        found.append((getattr(module, "ORDER", 100), config.label, module))
    return sorted(found, key=lambda item: (item[0], item[1]))


class Command(BaseCommand):
    help = "Migrate and seed demo data (safe to run twice)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", type=int, default=1, help="Multiply the amount of data.")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        ctx = DemoContext(command=self, rng=random.Random(options["seed"]), scale=options["scale"])
        user_model = get_user_model()
        username, password = DEMO_ADMIN
        if not user_model.objects.filter(username=username).exists():
            user_model.objects.create_superuser(username, "admin@example.com", password)
        ctx.shared["admin"] = user_model.objects.get(username=username)
        for _, label, module in _seeders():
            self.stdout.write(self.style.MIGRATE_HEADING(f"Seeding {label}"))
            with transaction.atomic():
                module.seed(ctx)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(
            f"Operator console: http://127.0.0.1:8000/admin/  user '{username}', password "
            f"'{password}' (demo only — never use these anywhere real)."
        )
