"""The booking HTTP JSON API (FastAPI). OpenAPI at /api/openapi.json, docs at /api/docs.

Citizens use the public endpoints (slots, holds, bookings, their own reservation by code
plus the e-mail, phone or identity code it was booked with). Staff (the switchboard,
advisors, admins) send `Authorization: Bearer <key>` with a key from `[web] api_keys`:
they book on behalf of a caller, change bookings past the citizens' limit, and see the
day's arrivals. Every refusal is `{"error": {"code", "message": {"fi", "sv", "en"}}}`.
"""

import calendar
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from scheduler.booking.errors import DomainError
from scheduler.booking.model import Reservation, Slot
from scheduler.booking.service import BookingService, Customer, SiteBooking

Lang = Literal["fi", "sv", "en"]

STATUS = {
    "bad_request": 400,
    "invalid_hetu": 422,
    "invalid_code": 422,
    "contact_needed": 422,
    "answer_needed": 422,
    "bad_slot": 422,
    "unknown_service": 404,
    "unknown_site": 404,
    "unknown_advisor": 404,
    "reservation_not_found": 404,
    "not_bookable": 409,
    "slot_taken": 409,
    "hold_expired": 409,
    "too_many_bookings": 409,
    "cancel_too_late": 409,
    "bad_state": 409,
    "not_allowed": 403,
    "internal_error": 500,
}


# ---------------------------------------------------------------------------- models


class ErrorMessage(BaseModel):
    fi: str
    sv: str
    en: str


class ErrorBody(BaseModel):
    code: str = Field(description="A machine-readable code, e.g. `unknown_site`, `slot_taken`.")
    message: ErrorMessage


class ErrorOut(BaseModel):
    """Every refusal (a bad request included)."""

    error: ErrorBody


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The refusals a route documents (422: the request did not validate)."""
    return {s: {"model": ErrorOut, "description": "Refused"} for s in sorted({*statuses, 422})}


ERRORS = _errors(400, 403, 404, 409)


class SlotOut(BaseModel):
    start: datetime
    end: datetime
    advisor: str
    advisor_name: str
    resources: list[str] = []


class HoldIn(BaseModel):
    service: str
    start: datetime = Field(description="A slot's start as the slots endpoint gave it.")
    advisor: str | None = None
    lang: Lang = "fi"


class HoldOut(BaseModel):
    hold_id: str
    hold_until: datetime
    slot: SlotOut


class BookIn(BaseModel):
    hold_id: str | None = Field(None, description="A hold to confirm, or give service+start.")
    service: str | None = None
    start: datetime | None = None
    advisor: str | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    phone: str | None = None
    email: str | None = None
    hetu: str | None = Field(None, description="Identity code: checked, hashed, never stored.")
    card: str | None = Field(
        None, description="(Staff) an ID card's identifier for check-in by card: hashed."
    )
    answers: dict[str, str] = {}
    lang: Lang = "fi"


class ContactIn(BaseModel):
    contact: str | None = Field(
        None, description="The e-mail, phone or identity code the booking was made with."
    )


class RescheduleIn(ContactIn):
    start: datetime
    advisor: str | None = None


class ReservationOut(BaseModel):
    code: str
    site: str
    service: str
    service_name: dict[str, str]
    start: datetime
    end: datetime
    advisor: str
    advisor_name: str
    status: str
    lang: str
    manage_url: str
    instructions: dict[str, str] | None = None
    ticket_id: str | None = None
    checked_in_at: datetime | None = None


class StaffReservationOut(ReservationOut):
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    answers: dict[str, str] = {}
    created_by: str


# ---------------------------------------------------------------------------- app


def create_app(
    booking: BookingService,
    *,
    api_keys: dict[str, str] | None = None,
    feed_key: bytes | None = None,
    tickets: Any = None,
) -> FastAPI:
    """`api_keys`: key -> role (switchboard, advisor, admin); `tickets`: the mobile
    ticket page's hub (scheduler/web/tickets.py), None without those pages."""
    app = FastAPI(
        title="Vuoro booking API",
        version="1",
        description=__doc__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    keys = dict(api_keys or {})
    secret = feed_key or b"vuoro-feed"

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}},
            status_code=STATUS.get(exc.code, 400),
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """A request the API's models refuse: the same error shape as every other refusal
        (the HTML pages keep FastAPI's own answer)."""
        if not request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        # The fields refused, as "start" or "answers.q1" (a body that is no JSON: "body").
        locs = [tuple(str(p) for p in e.get("loc") or ("request",)) for e in exc.errors()]
        where = sorted({".".join(loc[1:]) or loc[0] for loc in locs})
        err = DomainError("bad_request", detail=", ".join(where) or "request")
        return JSONResponse({"error": {"code": err.code, "message": err.message}}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """FastAPI's own refusals under /api/ (a body that is not JSON, an unknown path or
        method) in the API's error shape."""
        if not request.url.path.startswith("/api/") or exc.status_code >= 500:
            return await http_exception_handler(request, exc)
        err = DomainError("bad_request", detail=str(exc.detail))
        return JSONResponse(
            {"error": {"code": err.code, "message": err.message}},
            exc.status_code,
            headers=exc.headers,
        )

    def staff_role(authorization: Annotated[str | None, Header()] = None) -> str | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        role = keys.get(token.strip()) if scheme.lower() == "bearer" else None
        if role is None:
            raise DomainError("not_allowed")
        return role

    def require_staff(role: Annotated[str | None, Depends(staff_role)]) -> str:
        if role is None:
            raise DomainError("not_allowed")
        return role

    def site_of(site: str) -> SiteBooking:
        return booking.site(site)

    def slot_out(sb: SiteBooking, s: Slot) -> SlotOut:
        adv = sb.advisors.get(s.advisor)
        return SlotOut(
            start=s.start,
            end=s.end,
            advisor=s.advisor,
            advisor_name=adv.name if adv else s.advisor,
            resources=list(s.resources),
        )

    def res_out(r: Reservation, staff: bool = False) -> ReservationOut:
        sb = booking.sites[r.site]
        sdef = sb.site.services.get(r.service)
        adv = sb.advisors.get(r.advisor)
        base: dict[str, Any] = {
            "code": r.code,
            "site": r.site,
            "service": r.service,
            "service_name": dict(sdef.name) if sdef else {"fi": r.service},
            "start": r.start,
            "end": r.end,
            "advisor": r.advisor,
            "advisor_name": adv.name if adv else r.advisor,
            "status": r.status,
            "lang": r.lang,
            "manage_url": booking.manage_url(r),
            "instructions": dict(sdef.instructions) if sdef and sdef.instructions else None,
            "ticket_id": r.ticket_id,
            "checked_in_at": r.checked_in_at,
        }
        if staff:
            return StaffReservationOut(
                **base,
                name=r.name,
                phone=r.phone,
                email=r.email,
                answers=dict(r.answers),
                created_by=r.created_by,
            )
        return ReservationOut(**base)

    # ------------------------------------------------------------------ public

    @app.get("/api/v1/sites", tags=["public"])
    def sites() -> list[dict[str, Any]]:
        """Sites that take bookings."""
        return [
            {
                "id": sb.site.id,
                "name": dict(sb.site.name),
                "languages": list(sb.site.languages),
                "address": sb.address,
                "timezone": sb.site.timezone,
            }
            for sb in booking.sites.values()
        ]

    @app.get("/api/v1/sites/{site}/services", tags=["public"], responses=ERRORS)
    def services(site: str) -> list[dict[str, Any]]:
        """Bookable services with their duration, instructions, pre-questions and advisors."""
        sb = site_of(site)
        out = []
        for sid, b in sb.services.items():
            sdef = sb.site.services[sid]
            out.append(
                {
                    "id": sid,
                    "name": dict(sdef.name),
                    "provider": sdef.provider,
                    "duration_min": b.duration_min,
                    "remote": b.remote,
                    "instructions": dict(sdef.instructions) if sdef.instructions else None,
                    "pre_questions": [
                        {
                            "id": q.id,
                            "text": dict(q.text),
                            "required": q.required,
                            "choices": list(q.choices),
                        }
                        for q in b.pre_questions
                    ],
                    "advisors": [
                        {"id": a.id, "name": a.name}
                        for a in sb.advisors.values()
                        if sid in a.skills
                    ],
                }
            )
        return out

    @app.get("/api/v1/sites/{site}/services/{service}/slots", tags=["public"], responses=ERRORS)
    def slots(
        site: str,
        service: str,
        advisor: str | None = None,
        start_from: Annotated[datetime | None, Query(alias="from")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> list[SlotOut]:
        """The next free times of a service (any advisor, or a chosen one)."""
        sb = site_of(site)
        if start_from is not None and start_from.tzinfo is None:
            start_from = start_from.replace(tzinfo=sb.site.tz)
        found = booking.slots(site, service, advisor=advisor, start_from=start_from, limit=limit)
        return [slot_out(sb, s) for s in found]

    @app.get("/api/v1/sites/{site}/services/{service}/days", tags=["public"], responses=ERRORS)
    def days(
        site: str,
        service: str,
        month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
        advisor: str | None = None,
    ) -> list[date]:
        """Days of a month (`2026-12`, default this month) with free time."""
        sb = site_of(site)
        today = booking.clock().astimezone(sb.site.tz).date()
        first = today.replace(day=1)
        if month:
            y, m = (int(x) for x in month.split("-"))
            if not (1 <= m <= 12 and date.min.year <= y):
                raise DomainError("bad_request", detail="month")
            first = date(y, m, 1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        return booking.days(site, service, first, last, advisor=advisor)

    @app.post("/api/v1/sites/{site}/holds", tags=["public"], status_code=201, responses=ERRORS)
    def hold(site: str, body: HoldIn, role: Annotated[str | None, Depends(staff_role)]) -> HoldOut:
        """Keep a free time for a few minutes (the site's `hold_min`) while the form is
        filled in: nobody else can book it meanwhile."""
        sb = site_of(site)
        r = booking.hold(
            site,
            body.service,
            body.start,
            advisor=body.advisor,
            lang=body.lang,
            created_by=role or "web",
        )
        assert r.hold_until is not None
        return HoldOut(
            hold_id=r.id,
            hold_until=r.hold_until,
            slot=slot_out(sb, Slot(r.start, r.end, r.advisor, r.resources)),
        )

    @app.post(
        "/api/v1/sites/{site}/reservations", tags=["public"], status_code=201, responses=ERRORS
    )
    def book(
        site: str, body: BookIn, role: Annotated[str | None, Depends(staff_role)]
    ) -> StaffReservationOut | ReservationOut:
        """Book: confirm a hold (`hold_id`) or book a free time directly. The customer
        gets a confirmation by e-mail and/or SMS. Staff book on behalf of a caller."""
        if body.card and role is None:
            raise DomainError("not_allowed")
        r = booking.book(
            site,
            customer=Customer(
                card=body.card,
                name=body.name,
                phone=body.phone,
                email=body.email,
                hetu=body.hetu,
                answers=body.answers,
                lang=body.lang,
            ),
            hold_id=body.hold_id,
            service=body.service,
            start=body.start,
            advisor=body.advisor,
            created_by=role or "web",
        )
        return res_out(r, staff=role is not None)

    @app.get("/api/v1/reservations/{code}", tags=["public"], responses=ERRORS)
    def get_reservation(
        code: str,
        role: Annotated[str | None, Depends(staff_role)],
        contact: str | None = None,
    ) -> StaffReservationOut | ReservationOut:
        """A reservation by booking code and the contact it was booked with."""
        r = booking.find_own(code, contact, staff=role is not None)
        return res_out(r, staff=role is not None)

    @app.post("/api/v1/reservations/{code}/cancel", tags=["public"], responses=ERRORS)
    def cancel(
        code: str, body: ContactIn, role: Annotated[str | None, Depends(staff_role)]
    ) -> StaffReservationOut | ReservationOut:
        """Cancel (citizens up to the site's cancellation limit; staff any time)."""
        r = booking.cancel(code, contact=body.contact, staff=role is not None)
        return res_out(r, staff=role is not None)

    @app.post("/api/v1/reservations/{code}/reschedule", tags=["public"], responses=ERRORS)
    def reschedule(
        code: str, body: RescheduleIn, role: Annotated[str | None, Depends(staff_role)]
    ) -> StaffReservationOut | ReservationOut:
        """Move to another free time; the booking code stays."""
        r = booking.reschedule(
            code, body.start, advisor=body.advisor, contact=body.contact, staff=role is not None
        )
        return res_out(r, staff=role is not None)

    # ------------------------------------------------------------------ staff

    @app.get("/api/v1/sites/{site}/arrivals", tags=["staff"], responses=ERRORS)
    def arrivals(
        site: str,
        _role: Annotated[str, Depends(require_staff)],
        day: date | None = None,
        advisor: str | None = None,
    ) -> list[StaffReservationOut]:
        """The day's appointments: who has checked in (ticket) and who is still to come."""
        found = booking.arrivals(site, day)
        if advisor:
            found = [r for r in found if r.advisor == advisor]
        return [res_out(r, staff=True) for r in found]  # type: ignore[misc]

    @app.get("/api/v1/sites/{site}/advisors/{advisor}/feed-url", tags=["staff"], responses=ERRORS)
    def feed_url(
        site: str, advisor: str, _role: Annotated[str, Depends(require_staff)]
    ) -> dict[str, str]:
        """The advisor's subscribable calendar address (with its secret token)."""
        sb = site_of(site)
        if advisor not in sb.advisors:
            raise DomainError("unknown_advisor")
        token = _feed_token(secret, site, advisor)
        return {
            "url": f"{booking.public_url}/api/v1/sites/{site}/advisors/{advisor}/"
            f"calendar.ics?token={token}"
        }

    @app.get(
        "/api/v1/sites/{site}/advisors/{advisor}/calendar.ics", tags=["calendar"], responses=ERRORS
    )
    def advisor_calendar(site: str, advisor: str, token: str) -> Response:
        """The advisor's bookings as an iCalendar feed for the team calendar (no identity
        codes, no customer names)."""
        sb = site_of(site)
        adv = sb.advisors.get(advisor)
        expected = _feed_token(secret, site, advisor).encode()
        if adv is None or not hmac.compare_digest(token.encode(), expected):
            raise DomainError("not_allowed")
        from scheduler.booking.ical import advisor_feed

        now = booking.clock()
        found = booking.store.find(
            site,
            now - timedelta(days=30),
            now + timedelta(days=sb.rules.horizon_days + 1),
            advisor=advisor,
            statuses=("booked", "checked_in", "done"),
        )
        body = advisor_feed(adv, found, sb.site, sb.site.services)
        return Response(body, media_type="text/calendar; charset=utf-8")

    @app.get("/api/v1/health", tags=["public"])
    def health() -> dict[str, Any]:
        return {"ok": True, "at": datetime.now(UTC)}

    if tickets is not None:
        from scheduler.web.tickets import ticket_router

        app.include_router(ticket_router(tickets))
    from fastapi.staticfiles import StaticFiles

    from scheduler.web.citizen import STATIC, citizen_router

    app.include_router(citizen_router(booking))  # citizen booking pages under /book/
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _feed_token(secret: bytes, site: str, advisor: str) -> str:
    msg = f"feed:{site}:{advisor}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:32]
