"""Edge appliance configuration: pydantic models, one module per section, loaded from TOML plus env overrides.

`root.EdgeConfig` is the whole file and checks the references between sections; `loader.load_config` reads it.
Everything is re-exported here, so callers write `from edge.config import EdgeConfig, load_config`.
"""

from __future__ import annotations

from edge.config.access import AccessConfig, AccessLevelConfig
from edge.config.base import SLUG, ConfigError, Section, check_private
from edge.config.cloud import CloudConfig
from edge.config.devices import DeviceConfig, DeviceKind
from edge.config.doors import DoorConfig, DoorReaderConfig
from edge.config.homeassistant import HomeAssistantConfig
from edge.config.loader import ENV_PREFIX, format_validation_error, load_config
from edge.config.mqtt import MqttAccountConfig, MqttConfig
from edge.config.root import EdgeConfig
from edge.config.schedules import HolidayCalendarConfig, HolidayWindow, ScheduleConfig, ScheduleWindow, Weekday
from edge.config.site import SiteConfig
from edge.config.storage import StorageConfig
from edge.config.vision import VisionConfig
from edge.config.web import WebConfig
from edge.config.zones import PassbackMode, ZoneConfig

__all__ = [
    "ENV_PREFIX",
    "SLUG",
    "AccessConfig",
    "AccessLevelConfig",
    "CloudConfig",
    "ConfigError",
    "DeviceConfig",
    "DeviceKind",
    "DoorConfig",
    "DoorReaderConfig",
    "EdgeConfig",
    "HolidayCalendarConfig",
    "HomeAssistantConfig",
    "HolidayWindow",
    "MqttAccountConfig",
    "MqttConfig",
    "PassbackMode",
    "ScheduleConfig",
    "ScheduleWindow",
    "Section",
    "SiteConfig",
    "StorageConfig",
    "VisionConfig",
    "WebConfig",
    "Weekday",
    "ZoneConfig",
    "check_private",
    "format_validation_error",
    "load_config",
]
