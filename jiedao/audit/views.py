from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.views.generic import ListView
from rules.contrib.views import PermissionRequiredMixin

from jiedao.audit import selectors
from jiedao.core.export import xlsx_response


class AuditList(PermissionRequiredMixin, ListView):
    permission_required = "audit.view_trail"
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

    def get_queryset(self):
        return selectors.entries(self.request.user, q=self.request.GET.get("q", ""))

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "xlsx":
            return xlsx_response("audit", self.columns, self.get_queryset()[:50000])
        return super().get(request, *args, **kwargs)
