"""`outpost-provision add-door`: a door with its lock (native, Tasmota or Shelly), a reader and a contact."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from provisioning.config_edit import edit_config
from provisioning.pairing import TOPIC_LEVEL, DeviceSettings, PairArgs, PairingError, pair_in_config


class AddDoorArgs(BaseModel):
    """What the installer asked for."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$", description="Door id (its devices are named after it)")
    name: str = Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]*$", description="Human name")
    zone: str = Field(default="main", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Zone the door leads into")
    lock: Literal["native", "tasmota", "shelly"] = Field(default="native", description="Firmware of the lock")
    topic: str | None = Field(default=None, pattern=TOPIC_LEVEL, description="Tasmota Topic / Shelly device id")
    reader: bool = Field(default=True, description="Pair a native reader too")
    contact: bool = Field(default=True, description="Pair a native door contact too")
    broker_host: str | None = Field(default=None, description="Address devices use to reach the broker")

    @model_validator(mode="after")
    def _shelly_has_topic(self) -> AddDoorArgs:
        if self.lock == "shelly" and self.topic is None:
            raise ValueError("a Shelly lock needs --topic: its device id as shown in its web page (shelly1-ABC123)")
        return self


def add_door(config_path: Path, args: AddDoorArgs, owner: str | None = None) -> list[DeviceSettings]:
    """Pair the door's devices and add the door (one validated, atomic change); return each device's settings."""

    def change(data: dict[str, Any]) -> list[DeviceSettings]:
        if any(d.get("id") == args.id for d in data.get("doors", [])):
            raise PairingError(f"door {args.id!r} is already in the config; pick another id")
        wanted = [PairArgs(kind=args.lock, id=f"lock-{args.id}", role="lock", zone=args.zone, topic=args.topic)]
        if args.reader:
            wanted.append(PairArgs(kind="native", id=f"reader-{args.id}", role="reader", zone=args.zone))
        if args.contact:
            wanted.append(PairArgs(kind="native", id=f"contact-{args.id}", role="contact", zone=args.zone))
        settings = [pair_in_config(data, device, args.broker_host)[0] for device in wanted]
        door: dict[str, Any] = {"id": args.id, "name": args.name, "zone": args.zone, "lock": f"lock-{args.id}"}
        if args.reader:
            door["readers"] = [{"device": f"reader-{args.id}", "direction": "in"}]
        if args.contact:
            door["contact"] = f"contact-{args.id}"
        data.setdefault("doors", []).append(door)
        return settings

    return edit_config(config_path, change, owner)
