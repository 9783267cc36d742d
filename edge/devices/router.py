"""Routes validated device messages to the component that owns them."""

from __future__ import annotations

from edge.access.service import AccessService
from edge.devices.gateway import DeviceGateway
from edge.devices.state import SiteState
from firmware_adapters.outpost_mqtt.codec import (
    Ack,
    BadgeRead,
    ContactChange,
    DeviceMessage,
    Status,
    Telemetry,
)


class DeviceRouter:
    """Dispatches by message type; sends a receipt once an event is on disk."""

    def __init__(self, state: SiteState, access: AccessService, gateway: DeviceGateway) -> None:
        self._state = state
        self._access = access
        self._gateway = gateway

    async def __call__(self, device: str, message: DeviceMessage) -> None:
        """Handle one device message."""
        match message:
            case Status():
                await self._state.on_status(device, message)
            case Telemetry():
                await self._state.on_telemetry(device, message)
            case BadgeRead():
                await self._access.on_badge(device, message)
                await self._gateway.send(device, Ack(id=message.id))
            case ContactChange():
                await self._state.on_contact(device, message)
                await self._gateway.send(device, Ack(id=message.id))
            case Ack():
                await self._access.on_ack(device, message)
            case _:
                pass
