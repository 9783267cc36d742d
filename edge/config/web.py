"""The LAN web console."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edge.config.base import Section


class WebConfig(Section):
    """The LAN web console."""

    host: str = Field(default="0.0.0.0", description="Address the console listens on")
    port: int = Field(default=8080, ge=0, le=65535, description="Console TCP port; 0 picks a free port")
    initial_admin_password_file: Path | None = Field(
        default=None, description="If no console user exists, create 'admin' with the password in this file"
    )
    session_hours: float = Field(default=12, gt=0, le=24 * 30, description="Login session lifetime")
    login_attempts: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description=(
            "Login attempts allowed per client IP, per IP and user, and per user from clients that never logged "
            "in to it, within login_window_s (a browser that logged in to the user before counts on its own)"
        ),
    )
    login_window_s: int = Field(default=300, ge=1, le=86_400, description="Login rate-limit window, in seconds")
