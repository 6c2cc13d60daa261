from django.urls import path

from jiedao.territory import views, views_grid_io, views_map

app_name = "territory"
urlpatterns = [
    *views_grid_io.urlpatterns,  # before grids/<code>/: "import" is not a grid code
    *views_map.urlpatterns,  # the grid map and grids/<code>/profile/
    path("districts/", views.DistrictList.as_view(), name="district_list"),
    path("districts/<str:code>/", views.DistrictDetail.as_view(), name="district_detail"),
    path("streets/", views.StreetList.as_view(), name="street_list"),
    path("streets/<str:code>/", views.StreetDetail.as_view(), name="street_detail"),
    path("communities/", views.CommunityList.as_view(), name="community_list"),
    path("communities/<str:code>/", views.CommunityDetail.as_view(), name="community_detail"),
    path("grids/", views.GridList.as_view(), name="grid_list"),
    path("grids/<str:code>/", views.GridDetail.as_view(), name="grid_detail"),
    path("buildings/", views.BuildingList.as_view(), name="building_list"),
    path("buildings/<int:pk>/", views.BuildingDetail.as_view(), name="building_detail"),
    path("dwellings/", views.DwellingList.as_view(), name="dwelling_list"),
    path("dwellings/<int:pk>/", views.DwellingDetail.as_view(), name="dwelling_detail"),
    path("addresses/", views.AddressList.as_view(), name="address_list"),
    path("organisations/", views.OrganisationList.as_view(), name="organisation_list"),
    path("organisations/<int:pk>/", views.OrganisationDetail.as_view(), name="organisation_detail"),
    path("departments/", views.DepartmentList.as_view(), name="department_list"),
    path("departments/<str:code>/", views.DepartmentDetail.as_view(), name="department_detail"),
]
