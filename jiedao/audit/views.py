from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.utils.translation import gettext_lazy as _
from django.views.generic import ListView

from jiedao.accounts.roles import AUDIT_READERS
from jiedao.audit import selectors
from jiedao.core.export import xlsx_response


class AuditList(LoginRequiredMixin, UserPassesTestMixin, ListView):
    template_name = "audit/list.html"
    paginate_by = 50
    columns = [
        ("seq", "#"),
        ("at", _("When")),
        ("actor_label", _("Who")),
        ("action", _("What")),
        ("object_repr", _("Object")),
        ("ip", _("From")),
        ("hash", _("Hash")),
    ]

    def test_func(self) -> bool:
        return self.request.user.has_role(*AUDIT_READERS)  # type: ignore[union-attr]

    def get_queryset(self):
        return selectors.entries(self.request.user, q=self.request.GET.get("q", ""))

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "xlsx":
            return xlsx_response("audit", self.columns, self.get_queryset()[:50000])
        return super().get(request, *args, **kwargs)
