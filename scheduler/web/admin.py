"""The admin pages (issue 6): being built; for now the signed-in start page only."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from scheduler.web.auth import User
from scheduler.web.staff import StaffWeb


def router(web: StaffWeb) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    guard = web.guard("admin")

    @r.get("/admin/")
    async def home(request: Request, user: Annotated[User, Depends(guard)]) -> HTMLResponse:
        pg = web.page(request, user)
        return web.render(request, pg, "staff/message.html", text=pg.T("nav_admin"))

    return r
