"""The installer's subcommands of `outpost-provision`: offline enrollment, local sites, cameras, doors, devices.

`provisioning.cli` registers them (`register`) and hands their parsed arguments to `run`. Each validates its
arguments with pydantic and prints one clear error naming the fix; slow work prints progress on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

COMMANDS = frozenset({"init-local", "add-camera", "add-door", "pair-device"})


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], default_config: Path) -> None:
    """Add the installer's subcommands to `outpost-provision`."""
    init = sub.add_parser(
        "init-local",
        help="set up a site with no cloud (sync off); enroll it later without losing its data",
        description="Write an edge config for a site that has no cloud: the box runs its doors, cameras and "
        "console, and journals everything. A later `enroll` (online or --file) attaches it to a cloud and its "
        "journal goes up with the first sync.",
    )
    init.add_argument("--site-name", required=True, help="name of the site (shown in the console)")
    init.add_argument("--timezone", default="UTC", help="IANA time zone of the site, e.g. Europe/Berlin (UTC)")
    init.add_argument("--config", type=Path, default=default_config, help=f"edge config to write ({default_config})")
    init.add_argument(
        "--data-dir", type=Path, default=Path("/var/lib/outpost"), help="database and snapshots (/var/lib/outpost)"
    )
    init.add_argument("--force", action="store_true", help="replace an existing config")
    init.add_argument("--owner", default=argparse.SUPPRESS, help="user that owns the written config")


def fail(message: str) -> int:
    """Print an error for the installer and return the exit status."""
    print(f"outpost-provision: {message}", file=sys.stderr)
    return 1


def validated(model: type[M], values: dict[str, object]) -> M | str:
    """Validate command-line values; return the model or a one-line error naming the option."""
    try:
        return model.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(
            f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" if e["loc"] else e["msg"] for e in err.errors()
        )
        return f"invalid arguments ({problems})"


def progress(message: str) -> None:
    """Report progress of slow work on stderr."""
    print(f"  {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run one of the installer's subcommands."""
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {"init-local": _init_local}
    return handlers[args.command](args)


def _owner(args: argparse.Namespace) -> str | None:
    from provisioning.enroll import default_owner

    return getattr(args, "owner", None) or default_owner()


def _init_local(args: argparse.Namespace) -> int:
    from provisioning.enroll import EnrollmentError
    from provisioning.init_local import InitLocalArgs, init_local

    parsed = validated(
        InitLocalArgs,
        {"site_name": args.site_name, "timezone": args.timezone, "config": args.config, "data_dir": args.data_dir},
    )
    if isinstance(parsed, str):
        return fail(parsed)
    owner = _owner(args)
    try:
        site_id = init_local(parsed, force=args.force, owner=owner)
    except EnrollmentError as err:
        return fail(str(err))
    except OSError as err:
        return fail(f"cannot write {args.config}: {err.strerror}")
    print(f"Local site {site_id} ({parsed.site_name}), no cloud: sync is off and everything is journaled.")
    print(f"Wrote {args.config} (mode 0600). Start the box with: outpost-edge --config {args.config}")
    print("Attach it to a cloud later with outpost-provision enroll (--code or --file); its journal goes up then.")
    return 0


def enroll_file(args: argparse.Namespace) -> int:
    """`enroll --file`: apply a signed enrollment file without reaching the cloud."""
    from provisioning.enroll import EnrollmentError
    from provisioning.enroll_file import EnrollFileArgs, enroll_from_file

    parsed = validated(EnrollFileArgs, {"file": args.file, "cloud_key": args.cloud_key, "config": args.config})
    if isinstance(parsed, str):
        return fail(parsed)
    owner = _owner(args)
    try:
        enrollment, signer = enroll_from_file(parsed, force=args.force, owner=owner)
    except EnrollmentError as err:
        return fail(str(err))
    except OSError as err:
        return fail(f"cannot write {args.config}: {err.strerror}")
    print(f"Enrollment file verified: signed by cloud key {signer}", end="")
    print(" (as expected)." if parsed.cloud_key else "; compare it with the key on the HQ portal's Sites page.")
    print(f"Enrolled offline as site {enrollment.site_id} ({enrollment.site_name}) of tenant {enrollment.tenant_id}.")
    print(
        f"Wrote {args.config} (mode 0600). The box syncs to {enrollment.cloud_url} once it is online; it must "
        f"do so before {enrollment.expires_at:%Y-%m-%d %H:%M} UTC. Start it with: outpost-edge --config {args.config}"
    )
    return 0
