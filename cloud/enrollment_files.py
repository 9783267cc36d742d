"""HTTP side of offline enrollment: issue a signed enrollment file (API and portal) and publish the signing key."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from cloud.api_models import EnrollmentFileRequest, EnrollmentKeyOut
from cloud.appkeys import CONFIG, DB
from cloud.auth import forbidden
from cloud.billing.limits import SiteLimitReached
from cloud.offline_enrollment import ENROLLMENT_SIGNER
from cloud.permissions import public
from cloud.tenancy import Principal, TenantScope
from sync.enrollment_file import MEDIA_TYPE, EnrollmentFile, fingerprint, public_key_hex

ENROLLMENT_FILES_PATH = "/api/v1/enrollment-files"
ENROLLMENT_KEY_PATH = "/api/v1/enrollment-key"


def cloud_url_of(request: web.Request) -> str:
    """The URL a box should sync to: the configured public URL, else the one this request came in on."""
    return request.app[CONFIG].public_url or f"{request.scheme}://{request.host}"


def signing_key_out(request: web.Request) -> EnrollmentKeyOut:
    """The public half of the enrollment signing key and its fingerprint."""
    public = public_key_hex(request.app[ENROLLMENT_SIGNER])
    return EnrollmentKeyOut(public_key=public, fingerprint=fingerprint(public))


async def issue_file(request: web.Request, principal: Principal, body: EnrollmentFileRequest) -> EnrollmentFile:
    """Create the site and return its signed file (committed before it is handed out)."""
    try:
        async with request.app[DB].begin() as session:
            return await TenantScope(session, principal).issue_enrollment_file(
                request.app[ENROLLMENT_SIGNER],
                body.site_name,
                timedelta(days=body.ttl_days),
                body.timezone,
                cloud_url_of(request),
            )
    except SiteLimitReached as err:
        raise forbidden(request, "site_limit", str(err)) from err


def file_download(file: EnrollmentFile) -> web.Response:
    """Answer with the file as a download named after its site."""
    site_id = str(file.enrollment["site_id"])
    return web.Response(
        body=file.model_dump_json(indent=2).encode(),
        status=201,
        content_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="outpost-enrollment-{site_id}.json"'},
    )


@public
async def handle_enrollment_key(request: web.Request) -> web.Response:
    """GET /api/v1/enrollment-key: the public key enrollment files are signed with (no login needed)."""
    return web.json_response(signing_key_out(request).model_dump())
