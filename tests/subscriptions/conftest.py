import datetime as dt

import pytest

from tests.factories.inventory import SkuFactory

D = dt.date


@pytest.fixture
def sku(db):
    return SkuFactory(code="COFFEE-1", price=1200)


@pytest.fixture
def other_sku(db):
    return SkuFactory(code="COFFEE-2", price=1500)
