"""ISO 3166-1 country codes (from pycountry, so the list stays current)."""

from functools import lru_cache

import pycountry


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def is_country_code(value: str) -> bool:
    return (value or "").upper() in country_codes()
