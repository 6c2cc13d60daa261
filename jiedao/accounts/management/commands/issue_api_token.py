from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from jiedao.accounts.models import User
from jiedao.accounts.services import issue_api_token


class Command(BaseCommand):
    help = "Issue an API token for another system acting as USERNAME. The key is shown once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("name", help="what the token is for, e.g. '12345 hotline gateway'")
        parser.add_argument(
            "--days", type=int, default=365, help="valid for this many days (0: no expiry)"
        )

    def handle(self, username, name, days, **options):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        expires = timezone.now() + timedelta(days=days) if days else None
        token, key = issue_api_token("manage.py", user, name, expires_at=expires)
        self.stdout.write(
            f"Token {token.prefix}… for {user} ({name}), expires {expires or 'never'}:"
        )
        self.stdout.write(key)
        self.stdout.write("Send it as 'Authorization: Bearer <key>'. It cannot be shown again.")
