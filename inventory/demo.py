"""Demo catalog and stock: three warehouses (two US, one EU), ~40 SKUs priced in USD and
EUR, a monthly subscription box bundle, and stock received through the services (so the
ledger is real). Safe to run twice: existing rows are reused, stock is received once."""

from __future__ import annotations

import datetime
import zlib
from typing import Any

from inventory.models import Product, Sku, StockLevel, Warehouse
from inventory.services import (
    bundle_set_components,
    product_create,
    sku_create,
    stock_level_set_thresholds,
    stock_receive,
    warehouse_create,
)
from oms.core.actors import Actor
from oms.core.models import Channel, ChannelKind
from oms.core.services import api_key_create, channel_create

ORDER = 20

EU = ["DE", "FR", "NL", "BE", "AT", "IT", "ES", "IE", "GB"]
WAREHOUSES = [
    # code, name, country, priority, ships to, city
    ("us-east", "US East (Newark)", "US", 10, ["US", "CA"], "Newark"),
    ("us-west", "US West (Reno)", "US", 20, ["US", "CA", "MX"], "Reno"),
    ("eu-central", "EU Central (Leipzig)", "DE", 10, EU, "Leipzig"),
]

COFFEES = [
    "Ethiopia Yirgacheffe",
    "Colombia Huila",
    "Kenya Nyeri",
    "Guatemala Antigua",
    "Brazil Cerrado",
    "Sumatra Mandheling",
    "Costa Rica Tarrazu",
    "Rwanda Nyamasheke",
    "Peru Cajamarca",
    "Honduras Marcala",
    "House Espresso",
    "Decaf Swiss Water",
]
TEAS = [
    "Darjeeling First Flush",
    "Sencha",
    "Assam Breakfast",
    "Earl Grey",
    "Rooibos",
    "Jasmine Pearls",
    "Chamomile",
    "Oolong Tieguanyin",
]
GEAR = [("MUG-STONE", "Stoneware mug", 1800, 350), ("MUG-ENAMEL", "Enamel camp mug", 1600, 250),
        ("FILTER-V60", "V60 paper filters (100)", 700, 150), ("FILTER-CHEMEX", "Chemex filters (100)", 1100, 300),
        ("DRIPPER-V60", "Ceramic V60 dripper", 2900, 600), ("KETTLE-GOOSE", "Gooseneck kettle", 6900, 1100),
        ("GRINDER-HAND", "Hand grinder", 8900, 700), ("SCALE-BREW", "Brew scale", 4900, 400),
        ("TIN-250", "Airtight tin 250 g", 1500, 200), ("TOTE", "Canvas tote", 1200, 150),
        ("POSTCARD", "Origin postcard", 100, 10), ("SAMPLER-TEA", "Tea sampler tin", 900, 120),
        ("SPOON-MEASURE", "Measuring spoon", 600, 40), ("BRUSH-GRINDER", "Grinder brush", 500, 30),
        ("CUP-TASTING", "Cupping bowl", 1400, 300), ("DRIPPER-KALITA", "Kalita wave dripper", 3400, 500)]  # fmt: skip
OPENING = [0, 10, 60, 150, 400, 800]
DIGITAL = [("GUIDE-BREW", "Brew guide (PDF)", 500), ("CLUB-MEMBER", "Club membership (digital)", 0)]


def _eur(usd: int) -> int:
    return usd * 92 // 100


def _sku(product: Product, code: str, name: str, usd: int, **fields: Any) -> Sku:
    existing = Sku.objects.filter(code=code).first()
    if existing is not None:
        return existing
    return sku_create(
        product=product, code=code, name=name, prices={"USD": usd, "EUR": _eur(usd)}, **fields
    )


def _product(name: str) -> Product:
    return Product.objects.filter(name=name).first() or product_create(name=name)


def seed(ctx: Any) -> None:
    actor = Actor.system("demo")
    warehouses = {}
    for code, name, country, priority, ships_to, city in WAREHOUSES:
        warehouse = Warehouse.objects.filter(code=code).first() or warehouse_create(
            code=code,
            name=name,
            country=country,
            priority=priority,
            ships_to_countries=ships_to,
            city=city,
            cutoff_time=datetime.time(15, 0),
            capacity_units=500_000,
        )
        warehouses[code] = warehouse

    if not Channel.objects.filter(code="wms").exists():
        wms = channel_create(
            code="wms", name="Warehouse management system", kind=ChannelKind.WAREHOUSE
        )
        _, secret = api_key_create(channel=wms, name="demo")
        ctx.log(f"channel wms (warehouse system): API key {secret}")

    skus: dict[str, Sku] = {}
    coffee = _product("Single-origin coffee")
    for i, name in enumerate(COFFEES):
        code = f"COF-{i + 1:02d}"
        skus[code] = _sku(coffee, code, f"{name} 250 g", 1400 + 100 * (i % 5), weight_grams=270,
                          length_mm=180, width_mm=90, height_mm=60, allow_backorder=i < 4,
                          tax_category="reduced", barcode=f"400000000{i:04d}")  # fmt: skip
    tea = _product("Loose-leaf tea")
    for i, name in enumerate(TEAS):
        code = f"TEA-{i + 1:02d}"
        skus[code] = _sku(tea, code, f"{name} 100 g", 1100 + 50 * i, weight_grams=120,
                          tax_category="reduced")  # fmt: skip
    gear = _product("Brewing gear")
    for code, name, usd, grams in GEAR:
        skus[code] = _sku(gear, code, name, usd, weight_grams=grams)
    digital = _product("Digital")
    for code, name, usd in DIGITAL:
        skus[code] = _sku(digital, code, name, usd, is_physical=False, tax_category="digital")

    boxes = _product("Subscription boxes")
    box = Sku.objects.filter(code="BOX-MONTHLY").first()
    if box is None:
        box = _sku(boxes, "BOX-MONTHLY", "Monthly coffee subscription box", 3900,
                   is_bundle=True, allow_backorder=True, weight_grams=800)  # fmt: skip
        bundle_set_components(
            bundle=box,
            components=[
                (skus["COF-01"], 1),
                (skus["COF-02"], 1),
                (skus["FILTER-V60"], 1),
                (skus["POSTCARD"], 1),
                (skus["GUIDE-BREW"], 1),
            ],  # fmt: skip
        )
    tea_box = Sku.objects.filter(code="BOX-TEA").first()
    if tea_box is None:
        tea_box = _sku(boxes, "BOX-TEA", "Quarterly tea discovery box", 4500, is_bundle=True)
        bundle_set_components(
            bundle=tea_box,
            components=[
                (skus["TEA-01"], 1),
                (skus["TEA-02"], 1),
                (skus["TEA-05"], 1),
                (skus["SAMPLER-TEA"], 1),
            ],  # fmt: skip
        )
    skus[box.code], skus[tea_box.code] = box, tea_box

    stocked = set(StockLevel.objects.values_list("sku_id", "warehouse_id"))
    physical = [s for s in skus.values() if s.is_physical and not s.is_bundle]
    for sku in ctx.progress("stock receipts", physical):
        for code, warehouse in warehouses.items():
            if (sku.pk, warehouse.pk) in stocked:
                continue
            # Some SKUs run low on purpose so the console shows alerts and backorders.
            # Deterministic per (SKU, warehouse), so a second run adds nothing.
            quantity = OPENING[zlib.crc32(f"{sku.code}@{code}".encode()) % len(OPENING)]
            if not quantity and code != "us-west":
                quantity = 10  # every SKU stays sellable in both regions
            quantity *= ctx.scale
            if sku.code in ("COF-01", "COF-02", "FILTER-V60", "POSTCARD"):
                quantity = 300 * ctx.scale
            if not quantity:
                continue
            level = stock_receive(
                sku=sku, warehouse=warehouse, quantity=quantity, reference=f"PO-DEMO-{code}",
                reason="opening stock", actor=actor,
            )  # fmt: skip
            stock_level_set_thresholds(
                level=level,
                reorder_point=min(100, max(4, quantity // 3)),
                safety_stock=2,
                actor=actor,
            )

    ctx.shared["warehouses"] = warehouses
    ctx.shared["skus"] = skus
    ctx.shared["subscription_box"] = box
