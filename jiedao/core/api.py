"""The JSON API under /api/: session auth for pages, bearer tokens for other systems, errors as
``{"code": ..., "message": ...}`` in the caller's language, paginated lists."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema, security
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from jiedao.core.scopes import set_request_scope


def _activate(request: HttpRequest, user: Any) -> Any:
    """Make the authenticated caller's scope the request's scope (the middleware saw no user
    for a token request); the middleware resets it when the request ends."""
    request.user = user
    set_request_scope(user.scope)
    return user


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from jiedao.accounts.services import authenticate_token

        user = authenticate_token(token)
        return _activate(request, user) if user is not None else None


class SessionAuth(security.SessionAuth):
    """Django's session (CSRF checked on unsafe methods), under the user's scope."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        return _activate(request, user) if user is not None else None


class Error(Schema):
    code: str
    message: str


api = NinjaAPI(
    title="jiedao API",
    version="1",
    description="街道 — street office and community platform. Authenticate with a bearer token "
    "(ask your system administrator) or a browser session.",
    auth=[TokenAuth(), SessionAuth()],
    urls_namespace="api",
    docs_url="/docs",
)


def error(request: HttpRequest, status: int, code: str, message: str) -> Any:
    return api.create_response(request, {"code": code, "message": str(message)}, status=status)


@api.exception_handler(AuthenticationError)
def on_auth(request, exc):
    return error(request, 401, "unauthenticated", _("Sign in or send a valid API token."))


@api.exception_handler(PermissionDenied)
def on_denied(request, exc):
    return error(request, 403, "forbidden", str(exc) or _("You may not do this."))


@api.exception_handler(Http404)
def on_404(request, exc):
    return error(request, 404, "not_found", _("Not found, or outside your territory."))


@api.exception_handler(ValidationError)
def on_invalid(request, exc):
    return error(request, 422, "invalid", "; ".join(exc.messages))


@api.exception_handler(NinjaValidationError)
def on_schema(request, exc):
    fields = [
        ".".join(str(p) for p in e.get("loc", [])[1:]) + ": " + e.get("msg", "") for e in exc.errors
    ]
    return error(
        request,
        422,
        "invalid",
        _("The request is not valid: %(fields)s") % {"fields": "; ".join(fields)},
    )


@api.exception_handler(HttpError)
def on_http(request, exc):
    return error(request, exc.status_code, "error", str(exc))


def register_routers() -> None:
    from jiedao.cases.api import router as cases_router
    from jiedao.registry.api import router as persons_router
    from jiedao.territory.api import router as territory_router
    from jiedao.workdays.api import router as workdays_router

    api.add_router("/territory/", territory_router)
    api.add_router("/workdays/", workdays_router)
    api.add_router("/cases", cases_router)  # the collection is /api/cases, no slash
    api.add_router("/persons", persons_router)
