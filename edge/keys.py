"""Typed application keys through which edge components reach shared services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    pass

CONFIG = web.AppKey("config", "EdgeConfig")
DATABASE = web.AppKey("database", "Database")
JOURNAL = web.AppKey("journal", "Journal")
OUTBOX = web.AppKey("outbox", "Outbox")
CREDENTIALS = web.AppKey("credentials", "CredentialStore")
BROKER = web.AppKey("broker", "SiteBroker")
GATEWAY = web.AppKey("gateway", "DeviceGateway")
SITE_STATE = web.AppKey("site_state", "SiteState")
ACCESS = web.AppKey("access", "AccessService")
CAMERAS = web.AppKey("cameras", "dict[str, CameraPipeline]")
SYNC = web.AppKey("sync", "SyncAgent | None")
CONSOLE_AUTH = web.AppKey("console_auth", "ConsoleAuth")
LIVE_FEEDS = web.AppKey("live_feeds", "dict[str, LiveFeed]")
