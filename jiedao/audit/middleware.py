from __future__ import annotations

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from jiedao.audit.context import Origin, origin
from jiedao.core import net


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = net.request_id(request) or str(uuid.uuid4())
        value = Origin(
            ip=net.client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:255],
            request_id=request_id,
        )
        with origin(value):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
