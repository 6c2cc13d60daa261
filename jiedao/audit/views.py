from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.views.generic import ListView
from rules.contrib.views import PermissionRequiredMixin

from jiedao.audit import selectors
from jiedao.core.export import ExportMixin


class AuditList(PermissionRequiredMixin, ExportMixin, ListView):
    permission_required = "audit.view_trail"
    template_name = "audit/list.html"
    export_name = "audit"
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
