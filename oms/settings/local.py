"""Developer defaults: DEBUG on unless the environment says otherwise."""

import os

os.environ.setdefault("DJANGO_DEBUG", "1")

from .base import *  # noqa: E402,F403
from .env import env_str  # noqa: E402

# The quick start has no Stripe account: payments are answered in-process (deterministic test
# cards) unless a Stripe key is configured.
OMS_PAYMENT_GATEWAY = env_str("OMS_PAYMENT_GATEWAY", "stripe" if STRIPE_API_KEY else "inprocess")  # noqa: F405
