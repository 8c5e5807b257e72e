"""Demo channels with one API key each (the key is printed once, when created)."""

from typing import Any

from oms.core.models import Channel, ChannelKind
from oms.core.services import api_key_create, channel_create

ORDER = 0

CHANNELS = [
    ("web", "Web shop", ChannelKind.WEB, False),
    ("pos", "Flagship store POS", ChannelKind.POS, False),
    ("partner", "Partner marketplace", ChannelKind.MARKETPLACE, True),
    ("renewals", "Subscription renewals", ChannelKind.SUBSCRIPTIONS, True),
]


def seed(ctx: Any) -> None:
    channels = {}
    for code, name, kind, backorders in CHANNELS:
        channel = Channel.objects.filter(code=code).first()
        if channel is None:
            channel = channel_create(code=code, name=name, kind=kind, allow_backorders=backorders)
            _, secret = api_key_create(channel=channel, name="demo")
            ctx.log(f"channel {code}: API key {secret}")
        channels[code] = channel
    ctx.shared["channels"] = channels
