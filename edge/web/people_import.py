"""Bulk import of people from CSV: check every row first (the preview), then write the good rows (the confirm).

Columns (header row required, any order, names case-insensitive): ``name`` (required), ``badges`` and ``levels``
(several separated by ``;``), ``valid_from``, ``valid_until`` (ISO date/time; without an offset in the site's
time zone), ``role``, ``pin``. A row is refused, with every reason listed, when it does not validate
(`PersonRowIn`), names an unknown access level, or has a badge that is enrolled already or repeated in the file.
The preview writes nothing. The confirm checks everything again, writes each good row on its own (one person per
transaction, through `PeopleAdmin.add_person`: audited and queued for HQ) and skips refused rows, so one bad
row never blocks the others.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from edge.access.credentials import CredentialFormatError, CredentialInUse, normalise_credential
from edge.access.people import DuressPinConflict, PeopleAdmin, UnknownLevel
from edge.web.people_forms import PersonRowIn, error_text, localise

COLUMNS = ("name", "badges", "levels", "valid_from", "valid_until", "role", "pin")
MAX_ROWS = 2000


class ImportRefused(ValueError):
    """The file as a whole cannot be read (not CSV, no header, unknown columns, too many rows)."""


@dataclass
class ImportLine:
    """One data row of the file: valid (`person` set) or refused (`errors`)."""

    line: int
    name: str
    badges: str
    person: PersonRowIn | None = None
    errors: list[str] = field(default_factory=list)
    written_id: int | None = None

    @property
    def ok(self) -> bool:
        """True if the row can be (or was) written."""
        return self.person is not None and not self.errors


def check_csv(text: str, known_levels: Iterable[str], enrolled: Callable[[str], bool]) -> list[ImportLine]:
    """Parse and check every row; `enrolled(number)` says whether a normalised badge number is taken."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), restkey="_extra", strict=False)
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as err:
        raise ImportRefused(f"not a CSV file: {err}") from err
    if "name" not in header:
        raise ImportRefused("the first row must name the columns, including 'name'")
    unknown = sorted(set(header) - set(COLUMNS))
    if unknown:
        raise ImportRefused(f"unknown column(s): {', '.join(unknown)} (known: {', '.join(COLUMNS)})")
    reader.fieldnames = header
    levels = frozenset(known_levels)
    seen: dict[str, int] = {}
    lines: list[ImportLine] = []
    try:
        for raw in reader:
            if len(lines) >= MAX_ROWS:
                raise ImportRefused(f"at most {MAX_ROWS} rows per file")
            lines.append(_check_row(reader.line_num, raw, levels, enrolled, seen))
    except csv.Error as err:
        raise ImportRefused(f"line {reader.line_num}: {err}") from err
    return lines


def _check_row(
    line: int,
    raw: dict[str, str | None | list[str]],
    levels: frozenset[str],
    enrolled: Callable[[str], bool],
    seen: dict[str, int],
) -> ImportLine:
    cells = {k: (v if isinstance(v, str) else "") for k, v in raw.items() if k in COLUMNS}
    result = ImportLine(line=line, name=cells.get("name", "").strip(), badges=cells.get("badges", "").strip())
    if raw.get("_extra"):
        result.errors.append("more cells than columns")
    try:
        person = PersonRowIn.model_validate({k: v for k, v in cells.items() if v is not None})
    except ValidationError as err:
        result.errors.append(error_text(err))
        return result
    missing = sorted(set(person.levels) - levels)
    if missing:
        result.errors.append(f"unknown access level(s): {', '.join(missing)}")
    for badge in person.badges:
        try:
            number = normalise_credential(badge)
        except CredentialFormatError as err:
            result.errors.append(str(err))
            continue
        if number in seen:
            result.errors.append(f"badge {number} is also on line {seen[number]}")
        elif enrolled(number):
            result.errors.append(f"badge {number} is enrolled already")
        else:
            seen[number] = line
    result.person = person
    return result


async def write_lines(lines: list[ImportLine], people: PeopleAdmin, by: str, tz: ZoneInfo) -> None:
    """Write each valid line as one person (its own transaction); a line that fails gets the error, the rest go on."""
    for line in lines:
        person = line.person
        if person is None or line.errors:
            continue
        try:
            line.written_id = await people.add_person(
                person.name,
                person.badges,
                by,
                person_valid=(localise(person.valid_from, tz), localise(person.valid_until, tz)),
                levels=person.levels,
                role=person.role,
                pin=person.pin,
                origin="console",
            )
        except (CredentialInUse, CredentialFormatError, UnknownLevel, DuressPinConflict) as err:
            line.errors.append(str(err))
