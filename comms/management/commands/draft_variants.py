"""`manage.py draft_variants`: draft LLM wording for upcoming visits' segments, for approval."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from comms.llm_tasks import draft_missing_variants


class Command(BaseCommand):
    help = (
        "Ask the LLM (OPENAI_*) for message wording for each segment the next days' visits "
        "need and store it for a Manager to approve. Without OPENAI_API_KEY, says so."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=14, help="How far ahead to look.")

    def handle(self, *args, days: int, **options) -> None:
        result = draft_missing_variants(days=days)
        if "skipped" in result:
            self.stdout.write(self.style.WARNING(str(result["skipped"])))
            return
        summary = ", ".join(f"{k}={v}" for k, v in result.items())
        self.stdout.write(self.style.SUCCESS(f"variants: {summary}"))
