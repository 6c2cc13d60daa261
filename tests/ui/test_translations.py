"""The Chinese catalogue is complete, and pages follow the chosen language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils.translation import trans_real

from jiedao.accounts.roles import Role

PO = Path(settings.BASE_DIR) / "jiedao" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
STRING = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$')


def po_entries(text: str) -> list[dict[str, str | list[str]]]:
    """Entries of a .po file: their fields (continuation lines joined) and their flags."""
    entries = []
    for block in text.strip().split("\n\n"):
        entry: dict = {"flags": []}
        current = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] += [flag.strip() for flag in line[2:].split(",")]
            elif line.startswith("#~"):
                entry["obsolete"] = True
            elif match := STRING.match(line):
                current = match.group(1)
                entry[current] = match.group(2)
            elif line.startswith('"') and current:
                entry[current] += line[1:-1]
        if "msgid" in entry:
            entries.append(entry)
    return entries


def test_po_parser_reads_flags_plurals_and_continuations():
    sample = '#, fuzzy, python-format\nmsgid "a"\n"b"\nmsgid_plural "c"\nmsgstr[0] "d"\n\nmsgid "x"\nmsgstr ""'
    first, second = po_entries(sample)
    assert first["msgid"] == "ab" and first["msgstr[0]"] == "d" and "fuzzy" in first["flags"]
    assert second["msgstr"] == ""


def test_every_chinese_entry_is_translated_and_not_fuzzy():
    entries = [
        e
        for e in po_entries(PO.read_text(encoding="utf-8"))
        if e["msgid"] and not e.get("obsolete")
    ]
    assert len(entries) > 100
    untranslated = [e["msgid"] for e in entries if not e.get("msgstr") and not e.get("msgstr[0]")]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == [], f"untranslated: {untranslated}"
    assert fuzzy == [], f"fuzzy: {fuzzy}"


def test_header_is_not_fuzzy():
    header = po_entries(PO.read_text(encoding="utf-8"))[0]
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]


@pytest.fixture
def compiled_messages():
    """Compile the catalogue when the .mo is missing or older than the .po (a plain `pytest` run)."""
    mo = PO.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < PO.stat().st_mtime:
        call_command("compilemessages", locale=["zh_Hans"], verbosity=0)
        trans_real._translations = {}
        trans_real._default = None
    yield


@pytest.mark.django_db
def test_pages_follow_the_language(client, role_users, compiled_messages, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(role_users[Role.STREET_LEADER])
    page = client.get(reverse("territory:community_list")).content.decode()
    assert 'lang="zh-hans"' in page
    assert "<h1>社区</h1>" in page and "导出 XLSX" in page and "安全设置" in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/home/"})
    page = client.get(reverse("territory:community_list")).content.decode()
    assert 'lang="en"' in page
    assert "<h1>Communities</h1>" in page and "Export XLSX" in page and "Security settings" in page


@pytest.mark.django_db
def test_language_switch_redirects_back(client, role_users, compiled_messages):
    client.force_login(role_users[Role.RESIDENT])
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/home/"})
    assert response.status_code == 302 and response["Location"] == "/home/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    page = client.get("/home/").content.decode()
    assert "Your community" in page
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/home/"})
    assert "我的社区" in client.get("/home/").content.decode()


@pytest.mark.django_db
def test_elder_mode_toggles_a_body_class(client, role_users):
    client.force_login(role_users[Role.RESIDENT])
    assert not re.search(r'<body class="[^"]*\belder\b', client.get("/home/").content.decode())
    response = client.post(reverse("core:elder_mode"), {"next": "/home/"})
    assert response.status_code == 302
    page = client.get("/home/").content.decode()
    assert re.search(r'<body class="[^"]*\belder\b', page)
    assert 'aria-pressed="true"' in page
    client.post(reverse("core:elder_mode"), {"next": "/home/"})
    assert not re.search(r'<body class="[^"]*\belder\b', client.get("/home/").content.decode())
