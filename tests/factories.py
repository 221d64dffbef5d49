"""factory-boy factories for the scheduling models (comms and surveys add their own)."""

from __future__ import annotations

from datetime import date, time

import factory

from scheduling import models


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Location

    name = factory.Sequence(lambda n: f"Clinic {n}")
    address_line1 = "100 Main St"
    city = "Chicago"
    state = "IL"
    postal_code = "60601"
    phone = "+13125550100"
    time_zone = "America/Chicago"


class SpecialtyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Specialty
        django_get_or_create = ("name",)

    name = "Family Medicine"


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Provider
        skip_postgeneration_save = True

    title = "Dr"
    first_name = factory.Sequence(lambda n: f"Prov{n}")
    last_name = "Ortiz"
    specialty = factory.SubFactory(SpecialtyFactory)

    @factory.post_generation
    def locations(self, create, extracted, **kwargs):
        if create and extracted:
            self.locations.set(extracted)


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.AppointmentType
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Visit type {n}")
    duration_minutes = 30
    buffer_after_minutes = 10

    @factory.post_generation
    def specialties(self, create, extracted, **kwargs):
        if create:
            self.specialties.set(extracted or [SpecialtyFactory()])


class WorkingHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.WorkingHours

    weekday = 0
    start_time = time(8)
    end_time = time(17)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Patient

    first_name = factory.Sequence(lambda n: f"Pat{n}")
    last_name = "Zephyrine"
    date_of_birth = date(1980, 5, 17)
    phone = factory.Sequence(lambda n: f"+1312555{100 + n % 100:04d}")
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    home_location = factory.SubFactory(LocationFactory)
