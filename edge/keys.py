"""Typed keys of the services the composition root (`edge.app`) builds and the web layer reaches.

The services themselves know nothing of aiohttp; keys of web components live with them
(`edge.web.auth.CONSOLE_AUTH`, `edge.web.live.LIVE_FEEDS`).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from edge.access.credentials import CredentialStore
from edge.access.muster import MusterRoll
from edge.access.people import PeopleAdmin
from edge.access.policy_edits import PolicyEditor
from edge.access.service import AccessService
from edge.broker.server import SiteBroker
from edge.clock import WallClock
from edge.config import EdgeConfig
from edge.devices.gateway import DeviceGateway
from edge.devices.state import SiteState
from edge.homeassistant.bridge import HomeAssistantBridge
from edge.rules.service import RulesService
from edge.storage.database import Database
from edge.storage.journal import Journal, Outbox
from edge.storage.media import MediaQueue
from edge.storage.thinning import OutboxThinner
from edge.vision.pipeline import CameraPipeline
from sync.agent import SyncAgent
from sync.puller import ConfigPuller

CONFIG = web.AppKey("config", EdgeConfig)
CLOCK = web.AppKey("clock", WallClock)
# The file the config was loaded from (None when the box was built from a config in memory: tests, benchmarks);
# the console saves what it edits in place (edge.config.file_edit), e.g. the zones and lines drawn on a camera.
CONFIG_PATH: web.AppKey[Path | None] = web.AppKey("config_path")
DATABASE = web.AppKey("database", Database)
JOURNAL = web.AppKey("journal", Journal)
OUTBOX = web.AppKey("outbox", Outbox)
THINNER = web.AppKey("thinner", OutboxThinner)
MEDIA = web.AppKey("media", MediaQueue)
CREDENTIALS = web.AppKey("credentials", CredentialStore)
BROKER = web.AppKey("broker", SiteBroker)
GATEWAY = web.AppKey("gateway", DeviceGateway)
SITE_STATE = web.AppKey("site_state", SiteState)
ACCESS = web.AppKey("access", AccessService)
PEOPLE = web.AppKey("people", PeopleAdmin)
CAMERAS = web.AppKey("cameras", dict[str, CameraPipeline])
# Enabled cameras that run without detection, with the reason (a missing or unusable detector model).
CAMERA_FAULTS = web.AppKey("camera_faults", dict[str, str])
# None when the site runs offline (no cloud configured).
SYNC: web.AppKey[SyncAgent | None] = web.AppKey("sync")
# None when the site runs offline (no cloud configured); pulls the cloud-managed site configuration.
CONFIG_PULLER: web.AppKey[ConfigPuller | None] = web.AppKey("config_puller")
RULES = web.AppKey("rules", RulesService)
POLICY = web.AppKey("policy", PolicyEditor)  # the console's door, schedule and holiday edits
# None unless homeassistant.enabled (and its broker connection started).
HOME_ASSISTANT: web.AppKey[HomeAssistantBridge | None] = web.AppKey("home_assistant")
# Who badged into each zone and not out (edge.access.muster), for the console's muster list.
MUSTER = web.AppKey("muster", MusterRoll)
