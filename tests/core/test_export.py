from __future__ import annotations

from io import BytesIO

from openpyxl import load_workbook

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.core.scopes import unscoped
from tests import factories as f


def _rows(response):
    sheet = load_workbook(BytesIO(response.content)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()], sheet


def test_export_is_scoped_and_audited(client, world, role_users):
    client.force_login(role_users[Role.WORKSTATION_STAFF])
    response = client.get("/territory/organisations/?format=xlsx")
    rows, _sheet = _rows(response)
    assert len(rows) == 1 + 2  # heading + the two grids of community A1
    with unscoped():
        entry = AuditEntry.objects.get(action="export.organisations")
    assert entry.kind == AuditEntry.Kind.SENSITIVE_READ and entry.note.startswith("2 rows")
    assert entry.territory_code == world.community_a1.code


def test_formulas_are_exported_as_text(client, world, role_users):
    f.OrganisationFactory(grid=world.grid_a1x, name='=HYPERLINK("http://evil.example","点击")')
    client.force_login(role_users[Role.STREET_STAFF])
    rows, sheet = _rows(client.get("/territory/organisations/?format=xlsx&q=HYPERLINK"))
    assert rows[1][0] == '=HYPERLINK("http://evil.example","点击")'
    assert sheet.cell(row=2, column=1).data_type == "s"


def test_exports_are_capped(client, world, role_users, settings):
    settings.JIEDAO_EXPORT_MAX_ROWS = 2
    client.force_login(role_users[Role.STREET_STAFF])
    rows, _sheet = _rows(
        client.get("/territory/organisations/?format=xlsx", HTTP_ACCEPT_LANGUAGE="en")
    )
    assert len(rows) == 1 + 2 + 1 and "first 2 rows" in rows[-1][0]
