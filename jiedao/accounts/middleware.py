from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from jiedao.core.scopes import Scope, active_scope


class ScopeMiddleware:
    """Activate the signed-in user's territory scope for the whole request (defence in depth:
    selectors scope explicitly too). Anonymous visitors get an empty scope."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        # Resolved on the first scoped query: requests that read no territory data skip the grants.
        with active_scope(lambda: user.scope if user.is_authenticated else Scope.nothing()):
            return self.get_response(request)
