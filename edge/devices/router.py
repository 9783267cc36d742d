"""Routes validated device messages to the component that owns them."""

from __future__ import annotations

import logging

from edge.access.service import AccessService
from edge.devices.gateway import AdapterError, DeviceGateway, UnknownDevice
from edge.devices.state import SiteState
from firmware_adapters.messages import Ack, BadgeRead, ContactChange, DeviceMessage, Feedback, Status, Telemetry

log = logging.getLogger(__name__)


class DeviceRouter:
    """Dispatches by message type: state first (what the device reports), then access control.

    A badge read gets reader feedback (granted or not; a pending card+PIN or two-person read is 'not yet') and
    then its receipt, once the decision is on disk.
    """

    def __init__(self, state: SiteState, access: AccessService, gateway: DeviceGateway) -> None:
        self._state = state
        self._access = access
        self._gateway = gateway

    async def __call__(self, device: str, message: DeviceMessage) -> None:
        """Handle one device message."""
        match message:
            case Status():
                if await self._state.on_status(device, message):
                    await self._access.on_device_status(device, message.state == "online")
            case Telemetry():
                await self._state.on_telemetry(device, message)
                await self._access.on_telemetry(device, message)
            case BadgeRead():
                decision = await self._access.on_badge(device, message)
                await self._feedback(
                    device, Feedback(id=message.id, granted=decision.granted, reason=decision.reason.value)
                )
                await self._gateway.send(device, Ack(id=message.id))
            case ContactChange():
                await self._state.on_contact(device, message)
                await self._access.on_contact(device, message)
                await self._gateway.send(device, Ack(id=message.id))
            case Ack():
                await self._access.on_ack(device, message)
            case _:
                pass

    async def _feedback(self, reader: str, feedback: Feedback) -> None:
        # Best effort: a reader that cannot show the decision still gets its receipt.
        try:
            await self._gateway.send(reader, feedback)
        except (AdapterError, UnknownDevice) as err:
            log.debug("no feedback to %s: %s", reader, err)
