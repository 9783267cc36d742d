"""Typed application keys through which edge components reach shared services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from edge.access.credentials import CredentialStore
    from edge.access.service import AccessService
    from edge.broker.server import EmbeddedBroker
    from edge.config import EdgeConfig
    from edge.devices.bus import SiteBus
    from edge.devices.state import SiteState
    from edge.storage.database import Database
    from edge.storage.journal import Journal, Outbox
    from edge.vision.pipeline import CameraPipeline
    from edge.web.auth import ConsoleAuth
    from sync.agent import SyncAgent

CONFIG = web.AppKey("config", "EdgeConfig")
DATABASE = web.AppKey("database", "Database")
JOURNAL = web.AppKey("journal", "Journal")
OUTBOX = web.AppKey("outbox", "Outbox")
CREDENTIALS = web.AppKey("credentials", "CredentialStore")
BROKER = web.AppKey("broker", "EmbeddedBroker")
BUS = web.AppKey("bus", "SiteBus")
SITE_STATE = web.AppKey("site_state", "SiteState")
ACCESS = web.AppKey("access", "AccessService")
CAMERAS = web.AppKey("cameras", "dict[str, CameraPipeline]")
SYNC = web.AppKey("sync", "SyncAgent | None")
CONSOLE_AUTH = web.AppKey("console_auth", "ConsoleAuth")
