"""Account writes: grants, API tokens, second factor. Each is audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from jiedao.accounts.models import ApiToken, RoleGrant, User
from jiedao.audit.models import AuditEntry
from jiedao.audit.services import log_action, snapshot


@transaction.atomic
def grant_role(actor: Any, user: User, role: str, node: Any = None) -> RoleGrant:
    grant = RoleGrant(user=user, role=role)
    if node is not None:
        setattr(grant, node._meta.model_name, node)
    grant.full_clean()
    grant.save()
    user.clear_grant_cache()
    log_action(
        actor, "accounts.grant", grant, after=snapshot(grant), territory_code=grant.node_code
    )
    return grant


@transaction.atomic
def revoke_grant(actor: Any, grant: RoleGrant) -> RoleGrant:
    before = snapshot(grant)
    grant.revoked_at = timezone.now()
    grant.save(update_fields=["revoked_at"])
    grant.user.clear_grant_cache()
    log_action(
        actor,
        "accounts.revoke",
        grant,
        before=before,
        after=snapshot(grant),
        territory_code=grant.node_code,
    )
    return grant


@transaction.atomic
def issue_api_token(
    actor: Any, user: User, name: str, expires_at: Any = None
) -> tuple[ApiToken, str]:
    """Returns the token and its key; the key is never stored and cannot be shown again."""
    key = ApiToken.new_key()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[3:11],
        key_hash=ApiToken.hash_key(key),
        expires_at=expires_at,
    )
    log_action(
        actor, "accounts.api_token.issue", token, territory_code="", kind=AuditEntry.Kind.AUTH
    )
    return token, key


def authenticate_token(key: str) -> User | None:
    token = ApiToken.objects.filter(key_hash=ApiToken.hash_key(key)).select_related("user").first()
    if token is None or not token.usable or not token.user.is_active:
        return None
    # Touch at most once a minute: a busy integration should not write on every request.
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


@transaction.atomic
def start_totp_enrolment(user: User) -> TOTPDevice:
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


@transaction.atomic
def confirm_totp(user: User, device: TOTPDevice, token: str) -> bool:
    if not device.verify_token(token):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    log_action(user, "accounts.totp.enable", user, territory_code="", kind=AuditEntry.Kind.AUTH)
    return True
