"""Open311 GeoReport v2 at /open311/v2/ (domain.md §3 sources, §9 open formats, §10 privacy).

The spec (http://wiki.open311.org/GeoReport_v2) in short: a discovery document; the service
list (one service per active 小类); service definitions (the category's extra questions, the
Open311 "attributes"); POST a request (form-encoded, ``api_key`` required); GET requests
(filters, at most 90 days and 1,000 rows); GET one request. Every answer is XML or JSON after
the format suffix; errors are an array of ``{code, description}`` with HTTP 400 (bad input),
403 (api_key) or 404 (no such service or request).

Privacy (§10): the request list is public. Without an api_key whose owner may see a case
(``selectors.cases``), its description is blank, its point rounded to 3 decimals (about 100 m),
its address cut to road and number and its address id left out. The caller's name and phone are
never part of any answer, and phone or identity numbers in closing notes are masked.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from django.conf import settings
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.core.validators import URLValidator
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from jiedao.audit.models import AuditEntry
from jiedao.cases import selectors
from jiedao.cases.models import Case, CaseEvent, Category, Channel, PublicStatus
from jiedao.cases.services import Intake, submit_case
from jiedao.core.api import TokenAuth
from jiedao.core.pinyin import full_pinyin, initials
from jiedao.core.scopes import unscoped
from jiedao.territory.models import Community, StandardAddress, Street

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
# The spec gives no success code for POST; a new case is a created resource (RFC 9110), a
# retried submission (same Idempotency-Key) creates nothing and answers 200.
CREATED = 201
WINDOW = timedelta(days=90)  # "Default query limit is a span of 90 days or first 1000 requests"
MAX_REQUESTS = 1000
PUBLIC_DECIMALS = 3  # about 100 m: where, not whose door
MAX_DESCRIPTION = 4000  # "free form text limited to 4,000 characters"
# Changes before the catalogue's first audited edit share this changeset.
CATALOGUE_EPOCH = "2026-01-01T00:00:00+08:00"
# Answers sit in Case.attributes under their attribute code; what Open311 sends besides answers
# (media_url, an address_string not used for placement) under this key, which no code can be.
EXTRAS_KEY = "_open311"
CLOSING_ACTIONS = ("close", "reject", "close_with")

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LIST_DATATYPES = frozenset({"singlevaluelist", "multivaluelist"})
ATTRIBUTE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ATTRIBUTE_PARAM = re.compile(r"attribute\[([^\[\]]*)\](\[\])?")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d{1,15}")
DIGITS = re.compile(r"[0-9]{1,18}")
W3C_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
PHONE = re.compile(r"[0-9+()\- ]{3,32}")
CJK = re.compile(r"[\u3400-\u9fff]")
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
MAX_STRING_ANSWER = 500
MAX_NAME = 60  # Case.caller_name
MAX_KEY = 120  # Case.idempotency_key
MAX_URL = 500
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class Open311Error(Exception):
    """Answered as an error array in the request's format, with ``status``."""

    def __init__(self, status: int, *descriptions: str) -> None:
        self.status = status
        self.descriptions = [str(d) for d in descriptions]
        super().__init__("; ".join(self.descriptions))


# --- Rendering: one payload, XML or JSON (the spec's "Spark convention") ------------------------

# Containers and the element name of each of their items.
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def render(fmt: str, root: str, payload: Any, status: int = 200) -> HttpResponse:
    if fmt == "json":
        body = json.dumps(_blank_to_null(payload), ensure_ascii=False)
    else:
        body = '<?xml version="1.0" encoding="utf-8"?>\n' + tostring(
            _element(root, payload), encoding="unicode"
        )
    return HttpResponse(body.encode("utf-8"), status=status, content_type=CONTENT_TYPES[fmt])


def render_errors(fmt: str, status: int, descriptions: Iterable[str]) -> HttpResponse:
    errors = [{"code": status, "description": text} for text in descriptions]
    return render(fmt, "errors", errors, status=status)


def _blank_to_null(value: Any) -> Any:
    """An empty element in XML is ``null`` in the spec's JSON examples."""
    if isinstance(value, dict):
        return {k: _blank_to_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_to_null(v) for v in value]
    return None if value == "" else value


def _element(tag: str, value: Any) -> Element:
    element = Element(tag)
    _fill(element, value)
    return element


def _fill(element: Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(SubElement(element, key), item)
    elif isinstance(value, list):
        for item in value:
            _fill(SubElement(element, ITEM_TAGS[element.tag]), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        # Text from other channels may hold characters XML 1.0 cannot carry at all.
        element.text = XML_ILLEGAL.sub("", str(value))


def w3c(moment: datetime | None) -> str:
    """ISO 8601 with the offset, as the spec requires: 2025-09-30T09:00:00+08:00."""
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""


# --- The endpoint wrapper: format suffix, methods, errors ----------------------------------------

View = Callable[..., HttpResponse]


def endpoint(*methods: str) -> Callable[[View], View]:
    def wrap(view: View) -> View:
        @csrf_exempt  # other systems post with an api_key, never with a browser session
        @functools.wraps(view)
        def inner(request: HttpRequest, fmt: str, **kwargs: Any) -> HttpResponse:
            fmt = fmt.lower()
            if fmt not in CONTENT_TYPES:
                message = _("Unknown format “%(format)s”: end the address in .xml or .json.")
                return render_errors("xml", 404, [message % {"format": fmt[:20]}])
            if request.method not in methods:
                message = _("Method %(method)s is not allowed here.")
                response = render_errors(fmt, 405, [message % {"method": request.method}])
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, fmt, **kwargs)
            except Open311Error as error:
                return render_errors(fmt, error.status, error.descriptions)

        return inner

    return wrap


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Anything else under /open311/v2/ (also tokens: every service is realtime)."""
    fmt = "json" if path.lower().endswith(".json") else "xml"
    return render_errors(fmt, 404, [_("There is no such Open311 resource.")])


# --- Discovery and services -------------------------------------------------------------------


@endpoint("GET", "HEAD")
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    own = request.build_absolute_uri(reverse("open311:discovery", kwargs={"fmt": "xml"}))
    changeset = catalogue_changeset()
    endpoint_info = {
        "specification": SPECIFICATION,
        "url": own.rsplit("/", 1)[0],
        "changeset": changeset,
        "type": "test" if settings.DEBUG else "production",
        "formats": ["text/xml", "application/json"],
    }
    payload = {
        "changeset": changeset,
        "contact": _("Ask the street office's system administrator."),
        "key_service": _(
            "The street office's system administrator issues API tokens; send yours as api_key."
        ),
        "endpoints": [endpoint_info],
    }
    return render(fmt, "discovery", payload)


def catalogue_changeset() -> str:
    """When the catalogue last changed (its latest audited edit): clients refresh then."""
    with unscoped():
        changed = (
            AuditEntry.objects.filter(object_type="cases.category")
            .order_by("-seq")
            .values_list("at", flat=True)
            .first()
        )
    return w3c(changed) if changed else CATALOGUE_EPOCH


def open_services() -> QuerySet[Category]:
    """The services: exactly the categories intake accepts (active 小类)."""
    return Category.objects.filter(active=True, parent__isnull=False).select_related("parent")


@endpoint("GET", "HEAD")
def services(request: HttpRequest, fmt: str) -> HttpResponse:
    rows = open_services().order_by("code")
    return render(fmt, "services", [service_entry(category) for category in rows])


def service_entry(category: Category) -> dict[str, Any]:
    assert category.parent is not None  # open_services() holds 小类 only
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": _(
            "%(group)s: %(name)s. Resolved within %(days)s working days of registration."
        )
        % {"group": category.parent.name, "name": category.name, "days": category.deadline_days},
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": ", ".join(
            dict.fromkeys(
                (
                    category.name,
                    category.parent.name,
                    full_pinyin(category.name),
                    initials(category.name),
                )
            )
        ),
        "group": category.parent.name,
    }


def service_or_404(code: str) -> Category:
    category = open_services().filter(code=code).first()
    if category is None:
        raise Open311Error(
            404,
            _("There is no service “%(code)s”; services.xml lists the service codes.")
            % {"code": code[:64]},
        )
    return category


@endpoint("GET", "HEAD")
def service_definition(request: HttpRequest, fmt: str, service_code: str) -> HttpResponse:
    category = service_or_404(service_code)
    attributes = [attribute.as_open311() for attribute in definition_of(category)]
    return render(
        fmt, "service_definition", {"service_code": category.code, "attributes": attributes}
    )


# --- Service definitions: the category's questions, checked ----------------------------------


@dataclass(frozen=True)
class ServiceAttribute:
    """One Open311 attribute (an extra question of a category)."""

    code: str
    datatype: str
    order: int
    description: str = ""
    variable: bool = True
    required: bool = False
    datatype_description: str = ""
    values: tuple[tuple[str, str], ...] = ()

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(key for key, _name in self.values)

    def as_open311(self) -> dict[str, Any]:
        return {
            "variable": self.variable,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": self.datatype_description,
            "order": self.order,
            "description": self.description,
            "values": [{"key": key, "name": name} for key, name in self.values],
        }


def definition_of(category: Category) -> list[ServiceAttribute]:
    try:
        return clean_service_attributes(category.attributes)
    except ValidationError as error:
        raise Open311Error(
            400,
            _("The definition of service “%(code)s” is broken; please tell the street office.")
            % {"code": category.code},
            *error.messages,
        ) from error


def clean_service_attributes(raw: Any) -> list[ServiceAttribute]:
    """``Category.attributes`` as Open311 attributes, sorted by ``order``. Raises
    ``ValidationError`` naming every problem (for the catalogue's form, too)."""
    if raw in (None, "", []):
        return []
    if not isinstance(raw, list):
        raise ValidationError(_("The extra questions must be a list of Open311 attributes."))
    problems: list[str] = []
    cleaned: list[ServiceAttribute] = []
    for position, item in enumerate(raw, start=1):
        try:
            cleaned.append(_clean_attribute(item, position))
        except ValidationError as error:
            problems.extend(error.messages)
    problems += _repeated(cleaned)
    if problems:
        raise ValidationError(problems)
    return sorted(cleaned, key=lambda attribute: attribute.order)


def _clean_attribute(item: Any, position: int) -> ServiceAttribute:
    if not isinstance(item, dict):
        raise ValidationError(_("Question %(n)s is not an object.") % {"n": position})
    problems: list[str] = []

    def problem(message: str) -> None:
        problems.append(message % {"n": position, "types": ", ".join(DATATYPES)})

    code, datatype = item.get("code"), item.get("datatype")
    variable, required = item.get("variable", True), item.get("required", False)
    order = item.get("order", position)
    description = item.get("description") or ""
    datatype_description = item.get("datatype_description") or ""
    if not isinstance(code, str) or not ATTRIBUTE_CODE.fullmatch(code):
        problem(_("Question %(n)s: the code must be 1–64 letters, digits, “_”, “.” or “-”."))
    if datatype not in DATATYPES:
        problem(_("Question %(n)s: the datatype must be one of %(types)s."))
    if not isinstance(variable, bool) or not isinstance(required, bool):
        problem(_("Question %(n)s: “variable” and “required” must be true or false."))
    elif required and not variable:
        problem(_("Question %(n)s: an information-only question cannot be required."))
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        problem(_("Question %(n)s: the order must be a positive whole number."))
    if not isinstance(description, str) or not isinstance(datatype_description, str):
        problem(_("Question %(n)s: the descriptions must be text."))
    values = _clean_values(item.get("values") or [], datatype, problem)
    if problems:
        raise ValidationError(problems)
    return ServiceAttribute(
        code=str(code),
        datatype=str(datatype),
        order=order,
        description=description,
        variable=variable,
        required=required,
        datatype_description=datatype_description,
        values=values,
    )


def _clean_values(raw: Any, datatype: Any, problem: Callable[[str], None]) -> tuple:
    if not isinstance(raw, list):
        problem(_("Question %(n)s: the values must be a list of {key, name}."))
        return ()
    pairs = []
    for value in raw:
        key = value.get("key") if isinstance(value, dict) else None
        name = value.get("name") if isinstance(value, dict) else None
        if isinstance(key, bool) or not isinstance(key, (str, int)) or str(key) == "":
            problem(_("Question %(n)s: every value needs a key (text or a whole number)."))
        elif not isinstance(name, str) or not name.strip():
            problem(_("Question %(n)s: every value needs a name."))
        else:
            pairs.append((str(key), name))
    if datatype in LIST_DATATYPES and not raw:
        problem(_("Question %(n)s: a list question needs at least one value."))
    if datatype not in LIST_DATATYPES and raw:
        problem(_("Question %(n)s: only list questions have values."))
    if len({key for key, _name in pairs}) != len(pairs):
        problem(_("Question %(n)s: the value keys must differ."))
    return tuple(pairs)


def _repeated(attributes: list[ServiceAttribute]) -> list[str]:
    problems = []
    codes = [attribute.code for attribute in attributes]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        problems.append(_("Two questions share the code “%(code)s”.") % {"code": code})
    orders = [attribute.order for attribute in attributes]
    for order in sorted({o for o in orders if orders.count(o) > 1}):
        problems.append(_("Two questions share the order %(order)s.") % {"order": order})
    return problems


# --- POST requests: reading the form ---------------------------------------------------------


@dataclass
class Submission:
    """A checked Open311 request, ready for intake."""

    category: Category
    description: str
    lng: float | None = None
    lat: float | None = None
    address: StandardAddress | None = None
    caller_name: str = ""
    caller_phone: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    account_id: str = ""


def parse_submission(data: QueryDict) -> Submission:
    """Check everything before anything is written: 404 for an unknown service, otherwise one
    400 listing every problem found."""
    _refuse_control_characters(data)
    code = _text(data, "service_code")
    if not code:
        raise Open311Error(400, _("service_code is required; services.xml lists them."))
    category = service_or_404(code)
    definition = definition_of(category)
    problems: list[str] = []
    description = _description(data, problems)
    lng, lat, address = _location(data, problems)
    caller_name, caller_phone = _caller(data, problems)
    answers = _answers(data, definition, problems)
    placed_by_text = address is not None and lat is None and not _text(data, "address_id")
    extras = _extras(data, placed_by_text=placed_by_text, problems=problems)
    account_id = _text(data, "account_id")[:MAX_KEY]
    if problems:
        raise Open311Error(400, *problems)
    if extras:
        answers[EXTRAS_KEY] = extras
    return Submission(
        category, description, lng, lat, address, caller_name, caller_phone, answers, account_id
    )


def _text(data: QueryDict, name: str) -> str:
    return str(data.get(name, "") or "").strip()


def _refuse_control_characters(data: QueryDict) -> None:
    # NUL cannot be stored in PostgreSQL text, and the others cannot be sent back in XML.
    for key, values in data.lists():
        if CONTROL.search(key) or any(CONTROL.search(value) for value in values):
            raise Open311Error(
                400, _("The request contains control characters (such as NUL); remove them.")
            )


def _description(data: QueryDict, problems: list[str]) -> str:
    # An empty description is refused by intake itself (submit_case), with its own message.
    description = str(data.get("description", "") or "")
    if len(description) > MAX_DESCRIPTION:
        problems.append(
            _("The description is longer than %(max)s characters.") % {"max": MAX_DESCRIPTION}
        )
    return description


def _location(
    data: QueryDict, problems: list[str]
) -> tuple[float | None, float | None, StandardAddress | None]:
    """lat & long (WGS-84), address_id (a standard address) or an address_string that names
    exactly one standard address. The grid comes from the address when there is one."""
    before = len(problems)
    lng, lat = _point(data, problems)
    address = _address_by_id(data, problems)
    if address is None and lat is None and len(problems) == before:
        address = _address_by_text(data, problems)
    if lat is None and address is None and len(problems) == before:
        problems.append(_("Give a location: lat and long (WGS-84), address_id or address_string."))
    return lng, lat, address


def _point(data: QueryDict, problems: list[str]) -> tuple[float | None, float | None]:
    lat_text, long_text = _text(data, "lat"), _text(data, "long")
    if not lat_text and not long_text:
        return None, None
    if not lat_text or not long_text:
        problems.append(_("Send lat and long together."))
        return None, None
    lat = _coordinate(lat_text, 90.0)
    lng = _coordinate(long_text, 180.0)
    if lat is None or lng is None:
        problems.append(
            _("lat and long must be decimal degrees (WGS-84): lat −90…90, long −180…180.")
        )
        return None, None
    return lng, lat


def _coordinate(text: str, limit: float) -> float | None:
    if not NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) and abs(value) <= limit else None


def _address_by_id(data: QueryDict, problems: list[str]) -> StandardAddress | None:
    text = _text(data, "address_id")
    if not text:
        return None
    address = None
    if DIGITS.fullmatch(text):
        with unscoped():  # intake across the whole jurisdiction, not the caller's territory
            address = StandardAddress.objects.select_related("grid").filter(pk=int(text)).first()
    if address is None:
        problems.append(_("There is no standard address with address_id %(id)s.") % {"id": text})
    return address


def _address_by_text(data: QueryDict, problems: list[str]) -> StandardAddress | None:
    text = _text(data, "address_string")
    if not text:
        return None
    with unscoped():
        matches = list(StandardAddress.objects.select_related("grid").filter(full_text=text)[:2])
    if len(matches) != 1:
        problems.append(
            _(
                "address_string “%(text)s” does not name exactly one standard address; send "
                "lat and long, or address_id."
            )
            % {"text": text[:100]}
        )
        return None
    return matches[0]


def _caller(data: QueryDict, problems: list[str]) -> tuple[str, str]:
    """first_name/last_name → caller's name, phone → caller's phone. The e-mail address is
    not kept: the case has no field for it and personal data is kept to what is needed."""
    first, last = _text(data, "first_name"), _text(data, "last_name")
    if CJK.search(first + last):
        name = f"{last}{first}"  # 王 + 小明 → 王小明
    else:
        name = " ".join(part for part in (first, last) if part)
    if len(name) > MAX_NAME:
        problems.append(_("The name is longer than %(max)s characters.") % {"max": MAX_NAME})
    phone = _text(data, "phone")
    if phone and not PHONE.fullmatch(phone):
        problems.append(_("The phone number may hold only digits, spaces and + ( ) -."))
    return name, phone


def _extras(data: QueryDict, *, placed_by_text: bool, problems: list[str]) -> dict[str, str]:
    """media_url (kept for the handlers, never published) and an address_string that did not
    place the case (kept as the caller's own words)."""
    extras = {}
    media_url = _text(data, "media_url")
    if media_url:
        try:
            if len(media_url) > MAX_URL:
                raise ValidationError("too long")
            URLValidator(schemes=["http", "https"])(media_url)
            extras["media_url"] = media_url
        except ValidationError:
            problems.append(_("media_url must be an http or https address."))
    address_string = _text(data, "address_string")
    if address_string and not placed_by_text:
        extras["address_string"] = address_string[:255]
    return extras


def _answers(
    data: QueryDict, definition: list[ServiceAttribute], problems: list[str]
) -> dict[str, Any]:
    """attribute[code]=value (and attribute[code][]=v1&attribute[code][]=v2 for a
    multivaluelist), checked against the service definition."""
    given = _attribute_params(data, problems)
    for code in given.keys() - {attribute.code for attribute in definition}:
        problems.append(_("This service has no attribute “%(code)s”.") % {"code": code[:64]})
    answers: dict[str, Any] = {}
    for attribute in definition:
        if not attribute.variable:  # information only: nothing to answer, a value is ignored
            continue
        values = given.get(attribute.code, [])
        if not values:
            if attribute.required:
                problems.append(
                    _("Answer attribute[%(code)s] (“%(question)s”): it is required.")
                    % {"code": attribute.code, "question": attribute.description}
                )
            continue
        answer = _answer(attribute, values, problems)
        if answer is not None:
            answers[attribute.code] = answer
    return answers


def _attribute_params(data: QueryDict, problems: list[str]) -> dict[str, list[str]]:
    given: dict[str, list[str]] = {}
    for key, values in data.lists():
        if not key.startswith("attribute["):
            continue
        match = ATTRIBUTE_PARAM.fullmatch(key)
        if match is None:
            problems.append(
                _("“%(name)s” is not attribute[code] or attribute[code][].") % {"name": key[:80]}
            )
            continue
        kept = [value.strip() for value in values if value.strip()]
        given.setdefault(match.group(1), []).extend(kept)
    return given


def _answer(attribute: ServiceAttribute, values: list[str], problems: list[str]) -> Any:
    labels = {"code": attribute.code}
    if attribute.datatype == "multivaluelist":
        unknown = [value for value in values if value not in attribute.keys]
        if unknown:
            problems.append(_("attribute[%(code)s]: choose from the listed keys.") % labels)
            return None
        return list(dict.fromkeys(values))
    if len(values) > 1:
        problems.append(_("attribute[%(code)s] takes one value.") % labels)
        return None
    answer = _single_answer(attribute, values[0])
    if answer is None:
        problems.append(_single_problem(attribute) % labels)
    return answer


def _single_answer(attribute: ServiceAttribute, value: str) -> Any:
    kind = attribute.datatype
    if kind == "string":
        return value if len(value) <= MAX_STRING_ANSWER and not re.search("[\r\n]", value) else None
    if kind == "text":
        return value if len(value) <= MAX_DESCRIPTION else None
    if kind == "number":
        if INTEGER.fullmatch(value):
            return int(value)
        number = float(value) if NUMBER.fullmatch(value) else math.nan
        return number if math.isfinite(number) else None
    if kind == "datetime":
        return _iso_answer(value)
    return value if value in attribute.keys else None  # singlevaluelist


def _single_problem(attribute: ServiceAttribute) -> str:
    return {
        "string": _("attribute[%(code)s]: one line of at most 500 characters."),
        "text": _("attribute[%(code)s]: at most 4000 characters."),
        "number": _("attribute[%(code)s]: give a number."),
        "datetime": _("attribute[%(code)s]: give an ISO 8601 date or date and time."),
    }.get(attribute.datatype, _("attribute[%(code)s]: choose one of the listed keys."))


def _iso_answer(value: str) -> str | None:
    if W3C_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment.isoformat()


# --- POST requests: the write --------------------------------------------------------------


def source_system_for(actor: Any) -> str:
    """Idempotency keys are per calling system: one token user is one system."""
    source = f"open311:{actor.username}"
    return source if len(source) <= 60 else f"open311:#{actor.pk}"


def create_request(actor: Any, submission: Submission, idempotency_key: str = "") -> Intake:
    """File a checked request as a case (channel Open311) and keep the answers on it, both in
    one transaction. A retry with the same key returns the first case unchanged."""
    return submit_case(
        actor,
        channel=Channel.OPEN311,
        category=submission.category,
        description=submission.description,
        lng=submission.lng,
        lat=submission.lat,
        crs="wgs84",
        address=submission.address,
        caller_name=submission.caller_name,
        caller_phone=submission.caller_phone,
        source_system=source_system_for(actor),
        idempotency_key=idempotency_key,
        attributes=submission.answers,
    )


def service_notice(category: Category) -> str:
    return _(
        "Received. The street office registers the request and sends it to the unit "
        "responsible; it is to be resolved within %(days)s working days of registration."
    ) % {"days": category.deadline_days}


# --- Authentication -------------------------------------------------------------------------


def api_user(request: HttpRequest, key: str) -> Any:
    """The owner of the api_key (the same bearer tokens as /api/), under whose scope the rest
    of the request runs; 403 when the key is unknown, expired or revoked."""
    user = TokenAuth().authenticate(request, key)
    if user is None:
        raise Open311Error(
            403, _("The api_key is not valid (unknown, expired or revoked); nothing was done.")
        )
    return user


def viewer_of(request: HttpRequest) -> Any:
    """Who reads: the api_key's owner, a signed-in user, or nobody (the public view)."""
    key = str(request.GET.get("api_key", "")).strip()
    if key:
        return api_user(request, key)
    user = getattr(request, "user", None)
    return user if getattr(user, "is_authenticated", False) else None


# --- GET requests ----------------------------------------------------------------------------


@endpoint("GET", "HEAD", "POST")
def service_requests(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _post_request(request, fmt)
    viewer = viewer_of(request)
    return render(fmt, "service_requests", request_records(requested_cases(request.GET), viewer))


def _post_request(request: HttpRequest, fmt: str) -> HttpResponse:
    data = _form(request)
    key = str(data.get("api_key") or request.GET.get("api_key") or "").strip()
    if not key:
        raise Open311Error(403, _("api_key is required to submit a request."))
    actor = api_user(request, key)
    idempotency_key = _idempotency_key(request)
    submission = parse_submission(data)
    try:
        intake = create_request(actor, submission, idempotency_key)
    except ValidationError as error:  # outside the street, category gone, no description …
        raise Open311Error(400, *error.messages) from error
    answer = {
        "service_request_id": str(intake.case.pk),
        "service_notice": service_notice(intake.case.category),
        "account_id": submission.account_id,
    }
    return render(fmt, "service_requests", [answer], status=CREATED if intake.created else 200)


def _form(request: HttpRequest) -> QueryDict:
    try:
        if request.content_type not in FORM_TYPES and request.body:
            raise Open311Error(
                400, _("Send the request form-encoded (application/x-www-form-urlencoded).")
            )
        return request.POST
    except (SuspiciousOperation, MultiPartParserError) as error:  # too big, too many fields …
        raise Open311Error(400, _("The request body cannot be read.")) from error


def _idempotency_key(request: HttpRequest) -> str:
    key = str(request.headers.get("Idempotency-Key", "")).strip()
    if len(key) > MAX_KEY or not key.isprintable():
        raise Open311Error(
            400,
            _("The Idempotency-Key header must be at most %(max)s printable characters.")
            % {"max": MAX_KEY},
        )
    return key


@endpoint("GET", "HEAD")
def service_request(request: HttpRequest, fmt: str, service_request_id: str) -> HttpResponse:
    viewer = viewer_of(request)
    pk = _request_pk(service_request_id)
    rows = list(_request_rows().filter(pk=pk)) if pk is not None else []
    if not rows:
        raise Open311Error(
            404,
            _("There is no service request %(id)s.") % {"id": service_request_id[:40]},
        )
    return render(fmt, "service_requests", request_records(rows, viewer))


def _request_pk(text: str) -> int | None:
    return int(text) if DIGITS.fullmatch(text) and 0 < int(text) < 2**63 else None


def _request_rows() -> QuerySet[Case]:
    """Every case, deliberately unscoped: the list is public, and ``request_records`` decides
    per case how much of it each viewer gets."""
    events = CaseEvent.all_objects.filter(case=OuterRef("pk")).order_by("-at", "-pk")
    closing = events.filter(action__in=CLOSING_ACTIONS)
    with unscoped():
        rows = Case.objects.select_related(
            "category", "address", "handler_department", "handler_organisation"
        )
    return rows.annotate(
        last_event_at=Subquery(events.values("at")[:1]),
        closed_event_at=Subquery(closing.values("at")[:1]),
        closing_note=Subquery(closing.values("note")[:1]),
    )


def requested_cases(params: QueryDict) -> list[Case]:
    """GET requests: service_request_id overrides every other filter; otherwise service_code,
    status and a window of at most 90 days (default: the last 90), newest first, at most
    1,000 (``page``/``page_size``, the common extension, page further)."""
    rows = _request_rows()
    ids = _id_list(_text(params, "service_request_id"))
    if ids is not None:
        return list(rows.filter(pk__in=ids).order_by("-created_at", "-pk")[:MAX_REQUESTS])
    codes = _csv(params, "service_code")
    if codes:
        rows = rows.filter(category__code__in=codes)
    statuses = _csv(params, "status")
    if set(statuses) - set(PublicStatus.values):
        raise Open311Error(400, _("status must be open, closed or both (comma-separated)."))
    if statuses:
        rows = rows.filter(public_status__in=statuses)
    start, end = _window(params)
    page, size = _paging(params)
    rows = rows.filter(created_at__gte=start, created_at__lte=end).order_by("-created_at", "-pk")
    return list(rows[(page - 1) * size : page * size])


def _csv(params: QueryDict, name: str) -> list[str]:
    return [part.strip() for part in _text(params, name).split(",") if part.strip()]


def _id_list(text: str) -> list[int] | None:
    if not text:
        return None
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if len(parts) > MAX_REQUESTS or not all(DIGITS.fullmatch(part) for part in parts):
        raise Open311Error(
            400,
            _("service_request_id must be up to %(max)s request ids, comma-separated.")
            % {"max": MAX_REQUESTS},
        )
    return [int(part) for part in parts if 0 < int(part) < 2**63]


def _window(params: QueryDict) -> tuple[datetime, datetime]:
    start, end = _moment(params, "start_date"), _moment(params, "end_date")
    if start is None:
        end = end or timezone.now()
        start = end - WINDOW
    if end is None:
        end = start + WINDOW
    if start > end:
        raise Open311Error(400, _("start_date must not be after end_date."))
    if end - start > WINDOW:
        raise Open311Error(400, _("start_date and end_date may span at most 90 days."))
    return start, end


def _moment(params: QueryDict, name: str) -> datetime | None:
    """A W3C datetime with its offset (2010-01-01T00:00:00Z), or a date (local midnight)."""
    text = _text(params, name)
    if not text:
        return None
    moment: datetime | None = None
    try:
        if W3C_DATE.fullmatch(text):
            moment = timezone.make_aware(datetime.combine(date.fromisoformat(text), time()))
        else:
            moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None or timezone.is_naive(moment) or not 1900 <= moment.year <= 2200:
        raise Open311Error(
            400,
            _(
                "%(name)s must be a W3C date and time with its offset, e.g. 2025-09-30T00:00:00+08:00."
            )
            % {"name": name},
        )
    return moment


def _paging(params: QueryDict) -> tuple[int, int]:
    page_text, size_text = _text(params, "page") or "1", _text(params, "page_size")
    size_text = size_text or str(MAX_REQUESTS)
    if not (DIGITS.fullmatch(page_text) and DIGITS.fullmatch(size_text)):
        raise Open311Error(400, _("page and page_size must be whole numbers."))
    page, size = int(page_text), int(size_text)
    if not (1 <= page <= 10**6 and 1 <= size <= MAX_REQUESTS):
        raise Open311Error(
            400, _("page starts at 1; page_size is 1 to %(max)s.") % {"max": MAX_REQUESTS}
        )
    return page, size


# --- A case as an Open311 request -------------------------------------------------------------


def request_records(cases: list[Case], viewer: Any) -> list[dict[str, Any]]:
    visible = _visible_ids(cases, viewer)
    names = _unit_names(cases)
    return [request_record(case, case.pk in visible, names) for case in cases]


def _visible_ids(cases: list[Case], viewer: Any) -> set[int]:
    if viewer is None or not cases:
        return set()
    ids = [case.pk for case in cases]
    return set(selectors.cases(viewer).filter(pk__in=ids).values_list("pk", flat=True))


def _unit_names(cases: list[Case]) -> dict[str, str]:
    """Names of the handling communities/streets and of each case's street, in two queries."""
    codes = {case.handler_unit_code for case in cases if case.handler_unit_code}
    codes |= {case.street_code for case in cases}
    names: dict[str, str] = {}
    for model in (Street, Community):
        names.update(model.all_objects.filter(code__in=codes).values_list("code", "name"))
    return names


def request_record(case: Case, full: bool, names: dict[str, str]) -> dict[str, Any]:
    """``full``: the viewer may see the case (selectors.cases). Never the caller's contact."""
    closed = case.public_status == PublicStatus.CLOSED
    lat, lng = _point_of(case)
    updated = getattr(case, "last_event_at", None)
    if closed:
        updated = getattr(case, "closed_event_at", None) or case.closed_at or updated
    return {
        "service_request_id": str(case.pk),
        "status": case.public_status,
        "status_notes": scrub(getattr(case, "closing_note", None) or "", case) if closed else "",
        "service_name": case.category.name,
        "service_code": case.category.code,
        "description": case.description if full else "",
        "agency_responsible": _agency(case, names),
        "service_notice": "" if closed else service_notice(case.category),
        "requested_datetime": w3c(case.created_at),
        "updated_datetime": w3c(updated or case.created_at),
        "expected_datetime": w3c(case.resolve_due),
        "address": _address_text(case.address, full),
        "address_id": str(case.address_id) if full and case.address_id else "",
        "zipcode": "",
        "lat": _published(lat, full),
        "long": _published(lng, full),
        "media_url": "",  # photos are served only on the case's own pages
    }


def _point_of(case: Case) -> tuple[float | None, float | None]:
    if case.lat is not None and case.lng is not None:
        return case.lat, case.lng
    if case.address is not None:
        return case.address.lat, case.address.lng
    return None, None


def _published(value: float | None, full: bool) -> float | None:
    if value is None:
        return None
    return value if full else round(value, PUBLIC_DECIMALS)


def _address_text(address: StandardAddress | None, full: bool) -> str:
    # The public sees the road and number, not the building, entrance or room (§10).
    if address is None:
        return ""
    return address.full_text if full else f"{address.road}{address.number}"


def _agency(case: Case, names: dict[str, str]) -> str:
    """The current handler; before dispatch and after closing, the case's street office."""
    if case.handler_department_id and case.handler_department is not None:
        return case.handler_department.name
    if case.handler_organisation_id and case.handler_organisation is not None:
        return case.handler_organisation.name
    if case.handler_unit_code:
        return names.get(case.handler_unit_code, case.handler_unit_code)
    return names.get(case.street_code, "")


def scrub(text: str, case: Case) -> str:
    """Closing notes are staff free text: the caller's name and phone, mobile numbers and
    identity numbers in them are masked before they are published."""
    for secret in (case.caller_name.strip(), case.caller_phone.strip()):
        if len(secret) >= 2:
            text = text.replace(secret, "***")
    text = ID_NUMBER.sub(lambda m: m.group()[:6] + "********" + m.group()[-4:], text)
    return MOBILE.sub(lambda m: m.group()[:3] + "****" + m.group()[-4:], text)
