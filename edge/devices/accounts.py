"""The broker accounts the edge config gives: devices that connect themselves and the configured extra accounts."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from edge.broker.directory import BrokerUser
from edge.config import EdgeConfig
from firmware_adapters.registry import ADAPTER_TYPES

log = logging.getLogger(__name__)


def config_accounts(config: EdgeConfig) -> Iterator[BrokerUser]:
    """Yield the accounts of `config`'s devices (their own topics only) and of `mqtt.accounts`."""
    for device in config.devices:
        acl = ADAPTER_TYPES[device.adapter.type].device_acl(device.id, device.adapter)
        if acl is None:
            continue
        if device.password_hash is None:
            log.warning("device %s has no password_hash: it cannot connect", device.id)
            continue
        yield BrokerUser(device.id, device.password_hash, publish=acl[0], subscribe=acl[1])
    for account in config.mqtt.accounts:
        yield BrokerUser(account.username, account.password_hash, tuple(account.publish), tuple(account.subscribe))
