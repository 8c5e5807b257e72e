"""API keys, the channel a request knows, the error shape, pagination."""

import pytest
from rest_framework.test import APIClient

from oms.core.models import ApiKey
from oms.core.selectors import api_key_get_active
from oms.core.services import api_key_create, api_key_revoke
from tests.factories.core import ChannelFactory
from tests.factories.customers import CustomerFactory

pytestmark = pytest.mark.django_db


def _error(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def test_missing_key_is_401_with_the_error_shape():
    response = APIClient().get("/api/v1/ping/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert _error(response)["code"] == "not_authenticated"


def test_unknown_key_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer oms_not-a-real-key")
    response = client.get("/api/v1/ping/")
    assert response.status_code == 401
    assert _error(response)["message"] == "Unknown API key."


def test_malformed_header_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token abc")
    assert client.get("/api/v1/ping/").status_code == 401


def test_revoked_key_is_401_and_the_other_keys_still_work(channel):
    key_a, secret_a = api_key_create(channel=channel, name="a")
    _, secret_b = api_key_create(channel=channel, name="b")
    api_key_revoke(api_key=key_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_a}")
    response = client.get("/api/v1/ping/")
    assert response.status_code == 401
    assert "revoked" in _error(response)["message"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_b}")
    assert client.get("/api/v1/ping/").status_code == 200


def test_key_is_stored_hashed_and_shown_once(channel):
    key, secret = api_key_create(channel=channel, name="pos till 3")
    key.refresh_from_db()
    assert secret not in (key.hashed_key, key.prefix, key.name)
    assert len(key.hashed_key) == 64
    assert secret.startswith(key.prefix)


def test_deactivated_channel_is_403(channel, api_client):
    channel.is_active = False
    channel.save()
    response = api_client.get("/api/v1/ping/")
    assert response.status_code == 403
    assert _error(response)["code"] == "permission_denied"


def test_request_knows_its_channel(channel_client):
    web, pos = ChannelFactory(code="web-x"), ChannelFactory(code="pos-x")
    assert channel_client(web).get("/api/v1/ping/").json()["channel"] == "web-x"
    assert channel_client(pos).get("/api/v1/ping/").json()["channel"] == "pos-x"


def test_another_channels_customer_is_404(channel_client):
    mine, theirs = ChannelFactory(), ChannelFactory()
    theirs_customer = CustomerFactory(source_channel=theirs)
    response = channel_client(mine).get(f"/api/v1/customers/{theirs_customer.pk}/")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"
    assert channel_client(theirs).get(f"/api/v1/customers/{theirs_customer.pk}/").status_code == 200


def test_validation_errors_have_the_shape_and_name_fields(api_client):
    response = api_client.post("/api/v1/customers/", {"email": "not-an-email"}, format="json")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid"
    assert "email" in error["fields"]
    assert error["message"].startswith("email:")


def test_unknown_api_path_is_json_404(api_client):
    response = api_client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_wrong_method_is_405_with_the_shape(api_client):
    response = api_client.delete("/api/v1/ping/")
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"


def test_list_uses_cursor_pagination(channel, api_client):
    for _ in range(5):
        CustomerFactory(source_channel=channel)
    first = api_client.get("/api/v1/customers/?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"] and "cursor=" in first["next"]
    second = api_client.get(first["next"]).json()
    assert {c["id"] for c in first["results"]}.isdisjoint({c["id"] for c in second["results"]})


def test_throttling_is_per_channel(settings, channel_client):
    from django.core.cache import cache
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    rates = {"channel": "3/min"}
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = rates
    try:
        a, b = ChannelFactory(), ChannelFactory()
        client_a, client_b = channel_client(a), channel_client(b)
        codes = [client_a.get("/api/v1/ping/").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert client_b.get("/api/v1/ping/").status_code == 200
        assert _error(client_a.get("/api/v1/ping/"))["code"] == "throttled"
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
        cache.clear()
    assert api_settings.DEFAULT_THROTTLE_RATES


def test_api_key_lookup_returns_the_key_with_its_channel(channel):
    key, secret = api_key_create(channel=channel, name="lookup")
    found = api_key_get_active(secret=secret)
    expected = ApiKey.objects.select_related("channel").get(pk=key.pk)
    for model, a, b in ((ApiKey, found, expected), (type(channel), found.channel, channel)):
        assert {f.attname: getattr(a, f.attname) for f in model._meta.concrete_fields} == {
            f.attname: getattr(b, f.attname) for f in model._meta.concrete_fields
        }
    assert api_key_get_active(secret=secret + "x") is None
    api_key_revoke(api_key=key)
    assert api_key_get_active(secret=secret).revoked_at is not None


def test_throttle_history_is_a_compact_array_and_reads_an_old_list(channel_client):
    from array import array

    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    from oms.core.api.throttling import ChannelRateThrottle

    cache.clear()
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = {"channel": "3/min"}
    try:
        channel = ChannelFactory()
        key = ChannelRateThrottle.cache_format % {"scope": "channel", "ident": channel.pk}
        client = channel_client(channel)
        assert client.get("/api/v1/ping/").status_code == 200
        history = cache.get(key)
        assert isinstance(history, array) and len(history) == 1
        cache.set(key, list(history) * 2, 60)  # as DRF's own code left it: a list
        codes = [client.get("/api/v1/ping/").status_code for _ in range(2)]
        assert codes == [200, 429]
        assert isinstance(cache.get(key), array) and len(cache.get(key)) == 3
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
        cache.clear()
