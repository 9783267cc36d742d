"""`outpost-provision init-local`: set up a box for a site with no cloud (sync off); `enroll` can attach it later."""

from __future__ import annotations

import secrets
from pathlib import Path

import tomli_w
from pydantic import BaseModel, ConfigDict, Field

from provisioning.enroll import EnrollmentError, write_private
from sync.timezones import TimeZoneName

LOCAL_PREFIX = "local-"


class InitLocalArgs(BaseModel):
    """Arguments of `init-local`."""

    model_config = ConfigDict(extra="forbid")

    site_name: str = Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")
    timezone: TimeZoneName = Field(description="IANA time zone of the site, for schedules")
    config: Path = Field(description="Edge config to write")
    data_dir: Path = Field(description="Where the box keeps its database and snapshots")


def new_local_id() -> str:
    """Return a site id for a box without a cloud: unique, so HQ ids derived from it never collide later."""
    return LOCAL_PREFIX + secrets.token_hex(5)


def init_local(args: InitLocalArgs, force: bool = False, owner: str | None = None) -> str:
    """Write a config for a cloud-less site (mode 0600) and return its local site id."""
    if args.config.exists() and not force:
        raise EnrollmentError(
            f"{args.config} already exists; a box is set up once (use --force to replace its config, "
            "or enroll it into a cloud with outpost-provision enroll)"
        )
    site_id = new_local_id()
    data = {
        "site": {"id": site_id, "name": args.site_name, "timezone": args.timezone},
        "storage": {"data_dir": str(args.data_dir)},
    }
    write_private(args.config, tomli_w.dumps(data), owner)
    return site_id
