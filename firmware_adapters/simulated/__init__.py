"""Simulated devices speaking Outpost's native MQTT contract, for the demo and tests."""

from firmware_adapters.simulated.adapter import (
    SimulatedContact,
    SimulatedDevice,
    SimulatedLock,
    SimulatedReader,
    SimulatedSensor,
)
from firmware_adapters.simulated.config import SimulatedDeviceConfig

__all__ = [
    "SimulatedContact",
    "SimulatedDevice",
    "SimulatedDeviceConfig",
    "SimulatedLock",
    "SimulatedReader",
    "SimulatedSensor",
]
