from __future__ import annotations

import pytest
from shapely.geometry import shape

from jiedao.cases.models import Category, HandlerType


def inside(grid) -> tuple[float, float]:
    """A WGS-84 point inside the grid's boundary."""
    point = shape(grid.boundary).representative_point()
    return point.x, point.y


@pytest.fixture
def categories(db):
    main = Category.objects.create(code="01", name="市容环境", handler_type=HandlerType.STREET)
    sanitation = Category.objects.create(
        code="0101", name="垃圾清运", parent=main, handler_type=HandlerType.COMMUNITY
    )
    drainage = Category.objects.create(
        code="0102", name="排水管道", parent=main, handler_type=HandlerType.DEPARTMENT
    )
    return {"main": main, "sanitation": sanitation, "drainage": drainage}


def submit(grid, category, **kwargs):
    from jiedao.cases.services import submit_case

    lng, lat = inside(grid)
    kwargs.setdefault("channel", "hotline")
    kwargs.setdefault("description", "楼下垃圾三天没人清运")
    return submit_case(None, category=category, lng=lng, lat=lat, **kwargs).case


@pytest.fixture
def case(world, categories):
    """A hotline case in grid A1x (street A, community A1), sanitation, handled by community."""
    return submit(world.grid_a1x, categories["sanitation"], caller_phone="13800138000")
