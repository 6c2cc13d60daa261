"""Photos of a case: serving one to those who may see the case, and adding some.

A photo is never public media: ``/cases/photos/<pk>/`` looks the photo up through the cases the
user may see and answers 404 for any other, so a guessed number reveals nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from jiedao.cases import attachments, selectors
from jiedao.cases.models import Case

# Browsers may keep a photo for the signed-in user; shared caches and proxies never.
CACHE_CONTROL = "private, max-age=3600"


@login_required
@require_GET
def photo(request: HttpRequest, pk: int) -> HttpResponseBase:
    attachment = attachments.visible_photo(request.user, pk)
    if attachment is None:
        raise Http404(_("No such photo."))
    try:
        handle = attachment.file.storage.open(str(attachment.file.name), "rb")
    except FileNotFoundError as exc:
        raise Http404(_("No such photo.")) from exc
    response = FileResponse(
        handle,
        content_type=attachment.content_type,
        filename=f"case-{attachment.case_id}-photo-{attachment.pk}{attachment.extension}",
    )
    response["Cache-Control"] = CACHE_CONTROL
    return response


@login_required
@require_POST
def upload(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        case = selectors.case(request.user, pk)
    except Case.DoesNotExist as exc:
        raise Http404(_("No such case.")) from exc
    if not attachments.may_add_photos(request.user, case):
        raise PermissionDenied(_("You may not add photos to this case."))
    try:
        stored = attachments.store_photos(request.user, case, request.FILES.getlist("photos"))
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    else:
        count = len(stored)
        messages.success(
            request,
            ngettext("%(count)s photo added.", "%(count)s photos added.", count) % {"count": count},
        )
    # Resolved at request time: the case page's route belongs to another part of the app.
    return HttpResponseRedirect(reverse("cases:detail", args=[case.pk]))


urlpatterns: list[URLPattern] = [
    path("photos/<int:pk>/", photo, name="photo"),
    path("<int:pk>/photos/", upload, name="add_photos"),
]
