"""Sign-in in two steps (password, then TOTP when the user has enrolled), sign-out, enrolment."""

from __future__ import annotations

import base64
import time
from io import BytesIO

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from jiedao.accounts import services
from jiedao.accounts.forms import LoginForm, TokenForm
from jiedao.accounts.models import User
from jiedao.audit.models import AuditEntry
from jiedao.audit.services import log_action

PENDING = "jiedao_pending_user"
PENDING_SECONDS = 300  # the password step is valid for five minutes


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/home/"


@sensitive_post_parameters("password")
def login(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        if user_has_device(user, confirmed=True):
            request.session[PENDING] = [user.pk, int(time.time())]
            request.session["jiedao_next"] = _next_url(request)
            return redirect("accounts:login_totp")
        auth_login(request, user)
        log_action(user, "accounts.login", user, territory_code="", kind=AuditEntry.Kind.AUTH)
        return redirect(_next_url(request))
    return render(
        request, "accounts/login.html", {"form": form, "next": request.GET.get("next", "")}
    )


def login_totp(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        request.session.pop(PENDING, None)
        return redirect("accounts:login")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = next(
            (
                d
                for d in TOTPDevice.objects.filter(user=user, confirmed=True)
                if d.verify_token(form.cleaned_data["token"])
            ),
            None,
        )
        if device is not None:
            target = request.session.pop("jiedao_next", "/home/")
            request.session.pop(PENDING, None)
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            otp_login(request, device)
            log_action(
                user,
                "accounts.login",
                user,
                note="totp",
                territory_code="",
                kind=AuditEntry.Kind.AUTH,
            )
            return redirect(target)
        form.add_error("token", _("That code is not right or has expired."))
    return render(request, "accounts/login_totp.html", {"form": form})


def _pending_user(request: HttpRequest) -> User | None:
    """The user who passed the password step in this session, less than five minutes ago."""
    pending = request.session.get(PENDING)
    if (
        not isinstance(pending, list)
        or len(pending) != 2
        or time.time() - pending[1] > PENDING_SECONDS
    ):
        return None
    return User.objects.filter(pk=pending[0], is_active=True).first()


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        log_action(
            request.user,
            "accounts.logout",
            request.user,
            territory_code="",
            kind=AuditEntry.Kind.AUTH,
        )
    auth_logout(request)
    return redirect("accounts:login")


def locked_out(
    request: HttpRequest, credentials: dict | None = None, *args, **kwargs
) -> HttpResponse:
    return render(request, "accounts/locked_out.html", status=429)


@login_required
def security(request: HttpRequest) -> HttpResponse:
    """Enrol a TOTP authenticator (staff): scan the QR code, confirm with a first code."""
    user = request.user
    assert isinstance(user, User)
    enabled = user_has_device(user, confirmed=True)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    form = TokenForm(request.POST or None)
    if request.method == "POST" and "start" in request.POST:
        device = services.start_totp_enrolment(user)
        form = TokenForm()
    elif request.method == "POST" and device is not None and form.is_valid():
        if services.confirm_totp(user, device, form.cleaned_data["token"]):
            messages.success(request, _("Two-step sign-in is on."))
            return redirect("accounts:security")
        form.add_error("token", _("That code is not right or has expired."))
    qr_svg = _qr_data_uri(device.config_url) if device is not None and not enabled else None
    return render(
        request,
        "accounts/security.html",
        {"enabled": enabled, "qr": qr_svg, "device": device, "form": form},
    )


def _qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage)
    buffer = BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
