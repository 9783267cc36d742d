"""Show a paired device's settings: as text, as a file (mode 0600), or as a QR code in the terminal."""

from __future__ import annotations

import io
from pathlib import Path

import segno

from provisioning.enroll import write_private
from provisioning.pairing import DeviceSettings


def render_text(settings: DeviceSettings) -> str:
    """The settings as lines to type into the firmware."""
    lines = [
        f"Device {settings.device_id} ({settings.kind})",
        f"  broker host: {settings.host}",
        f"  broker port: {settings.port}",
        f"  protocol:    {settings.protocol}",
        f"  user:        {settings.username}",
        f"  password:    {settings.password}",
        f"  client id:   {settings.client_id}",
        f"  publishes:   {', '.join(settings.publish)}",
        f"  subscribes:  {', '.join(settings.subscribe)}",
        "  firmware:",
        *(f"    {line}" for line in settings.firmware),
    ]
    return "\n".join(lines) + "\n"


def qr_payload(settings: DeviceSettings) -> str:
    """What the QR code holds: the settings as compact JSON (a phone or commissioning tool reads it back)."""
    return settings.model_dump_json(exclude={"firmware"})


def make_qr(settings: DeviceSettings) -> segno.QRCode:
    """The QR code of the settings (error correction M)."""
    return segno.make_qr(qr_payload(settings), error="m")


def terminal_qr(settings: DeviceSettings) -> str:
    """The QR code drawn with text for a terminal (dark modules on a light background)."""
    out = io.StringIO()
    make_qr(settings).terminal(out=out, compact=True)
    return out.getvalue()


def write_settings(path: Path, all_settings: list[DeviceSettings], owner: str | None = None) -> None:
    """Write the settings as text to `path`, mode 0600 (they hold passwords)."""
    write_private(path, "".join(render_text(s) + "\n" for s in all_settings), owner)
