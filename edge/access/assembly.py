"""Build the access control service and its collaborators (called by the composition root, `edge.app`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from edge.access.commands import CommandTransport, LockCommander
from edge.access.credential_index import CredentialIndex
from edge.access.credentials import CredentialStore
from edge.access.enrolment import Enrolment, EnrolmentDesk
from edge.access.lockdown import LockdownState
from edge.access.modes import DoorModeRunner
from edge.access.passback import PassbackTracker
from edge.access.people import PeopleAdmin
from edge.access.pin_lockout import PinLockouts
from edge.access.pins import PinHasher
from edge.access.schedule import compile_schedules
from edge.access.service import AccessService
from edge.access.supervision import DoorSupervisor
from edge.access.two_person import TwoPersonRule
from edge.config import EdgeConfig
from edge.devices.state import SiteState
from edge.storage.database import Database
from edge.storage.journal import Journal


def build_access(
    config: EdgeConfig,
    db: Database,
    credentials: CredentialStore,
    journal: Journal,
    gateway: CommandTransport,
    state: SiteState,
    pins: PinHasher,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[AccessService, PeopleAdmin]:
    """Return the site's access service (badges, doors, alarms) and its people administration, wired together."""
    schedules = compile_schedules(config.schedules, ZoneInfo(config.site.timezone), config.holidays)
    lockdowns = LockdownState(db)
    passback = PassbackTracker(db, {z.id: z.passback for z in config.zones})
    supervisor = DoorSupervisor(config, state, journal, db=db)
    commander = LockCommander(
        gateway,
        ack_timeout_s=config.access.command_ack_timeout_s,
        retries=config.access.command_retries,
        on_fault=supervisor.command_failed,
        on_acked=supervisor.command_acked,
    )
    modes = DoorModeRunner(
        config.doors,
        schedules,
        lockdowns,
        commander,
        state,
        clock=clock,
        on_hold_ended=supervisor.start_held_timer,
    )
    # The two ask each other: no forced/held-open alarm while a door is held unlocked by its mode.
    supervisor.held_unlocked = modes.held_unlocked
    people = PeopleAdmin(
        config.access.levels, db, credentials, journal, pins, passback, site_id=config.site.people_id_site
    )

    async def bind(enrolment: Enrolment, number: str) -> str:
        return await people.add_credential(
            enrolment.person_id, number, enrolment.by, how=f"tapped at {enrolment.reader_id}"
        )

    service = AccessService(
        config,
        schedules=schedules,
        journal=journal,
        state=state,
        pins=pins,
        credential_index=CredentialIndex(credentials),
        lockdowns=lockdowns,
        passback=passback,
        two_person=TwoPersonRule(),
        pin_lockouts=PinLockouts(config.access, db, journal, clock=clock),
        supervisor=supervisor,
        commander=commander,
        modes=modes,
        enrolments=EnrolmentDesk(bind, clock=clock),
        clock=clock,
    )
    return service, people
