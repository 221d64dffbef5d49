"""Recount the dashboard's roll-ups from the raw rows (after a bulk import, or to check them)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from surveys import rollup


class Command(BaseCommand):
    help = (
        "Recompute the insight dashboard's roll-ups for a range of days (whole ISO weeks). "
        "Without options: every day holding data."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--start", type=date.fromisoformat, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", type=date.fromisoformat, help="last day, YYYY-MM-DD")
        parser.add_argument(
            "--days", type=int, help="the last DAYS days and every later day holding data"
        )

    def handle(self, *args, start=None, end=None, days=None, **options) -> None:
        if days is not None:
            written = rollup.rebuild_recent(days)
        else:
            found = rollup.data_range()
            if found is None and not (start and end):
                self.stdout.write("no data: nothing to count")
                return
            start, end = start or found[0], end or found[1]
            if start > end:
                raise CommandError("--start is after --end")
            written = rollup.rebuild(start, end)
        self.stdout.write(f"{written} roll-up rows written")
