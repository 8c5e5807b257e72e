"""Settings for ``manage.py renew`` run as a child process by the concurrency tests: the test
database (DATABASE_URL), and the gateway: in-process by default, or the Stripe SDK against
the localstripe the test started (RENEWAL_TEST_STRIPE_API_BASE), optionally rate-limited
(RENEWAL_TEST_STRIPE_RATE charges per second) so a kill lands mid-run."""

import os

from oms.settings.test import *  # noqa: F403

_STRIPE_BASE = os.environ.get("RENEWAL_TEST_STRIPE_API_BASE", "")
OMS_PAYMENT_GATEWAY = "stripe" if _STRIPE_BASE else "inprocess"
STRIPE_API_BASE = _STRIPE_BASE
STRIPE_API_KEY = "sk_test_oms_billing"
OMS_STRIPE_MAX_NETWORK_RETRIES = 0
OMS_STRIPE_RATE_LIMIT = float(os.environ.get("RENEWAL_TEST_STRIPE_RATE", "0"))
OMS_STRIPE_RATE_BURST = 1
# localstripe lists a PaymentIntent the moment it exists (Stripe's search can lag a minute),
# so "no such charge" can be believed at once when a re-run resolves a killed run's attempt.
OMS_PAYMENT_NOT_FOUND_GRACE_SECONDS = 0
