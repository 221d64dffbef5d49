from django.contrib import admin
from django.urls import path

admin.site.site_header = "Clinic Comms"
admin.site.site_title = "Clinic Comms"
admin.site.index_title = "Front desk"

urlpatterns = [
    path("admin/", admin.site.urls),
]
