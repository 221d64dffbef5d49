"""The standard visit survey (English and Spanish) and the groups' rights on surveys.

NPS, six CG-CAHPS-style frequency items (Never / Sometimes / Usually / Always, stored 1-4), a
0-10 provider rating and two free-text questions. Question codes are the same in every language,
so answers aggregate across languages. Managers see and correct everything; the front desk gets
nothing here (answers and comments are clinical feedback, not front-desk work).
"""

from django.db import migrations
from django.utils import timezone

from scheduling.migrations import _groups

NAME = "Standard visit survey"
# (code, kind, required, English, Spanish)
QUESTIONS = [
    ("nps", "nps", True,
     "How likely are you to recommend our clinic to a friend or family member?",
     "¿Qué tan probable es que recomiende nuestra clínica a un amigo o familiar?"),
    ("explained", "likert", False,
     "During this visit, how often did the provider explain things in a way that was easy "
     "to understand?",
     "Durante esta visita, ¿con qué frecuencia el proveedor le explicó las cosas de una manera "
     "fácil de entender?"),
    ("listened", "likert", False,
     "How often did the provider listen carefully to you?",
     "¿Con qué frecuencia el proveedor le escuchó con atención?"),
    ("respect", "likert", False,
     "How often did the provider show respect for what you had to say?",
     "¿Con qué frecuencia el proveedor mostró respeto por lo que usted tenía que decir?"),
    ("enough_time", "likert", False,
     "How often did the provider spend enough time with you?",
     "¿Con qué frecuencia el proveedor pasó suficiente tiempo con usted?"),
    ("staff_helpful", "likert", False,
     "How often were the clerks and receptionists as helpful and courteous as you thought "
     "they should be?",
     "¿Con qué frecuencia los empleados y recepcionistas fueron tan atentos y corteses como "
     "usted pensaba que debían ser?"),
    ("appointment_soon", "likert", False,
     "How often did you get an appointment as soon as you needed?",
     "¿Con qué frecuencia consiguió una cita tan pronto como la necesitaba?"),
    ("provider_rating", "rating", False,
     "Using any number from 0 to 10, where 0 is the worst provider possible and 10 is the best "
     "provider possible, what number would you use to rate this provider?",
     "Usando un número del 0 al 10, donde 0 es el peor proveedor posible y 10 el mejor "
     "proveedor posible, ¿qué número usaría para calificar a este proveedor?"),
    ("went_well", "free_text", False, "What went well?", "¿Qué salió bien?"),
    ("do_better", "free_text", False, "What could we do better?", "¿Qué podríamos mejorar?"),
]
ALL_MODELS = ["survey", "question", "invitation", "response", "answer", "comment",
              "commenttheme", "ticket", "locationmanager"]
MANAGER = {model: ["view", "change"] for model in ALL_MODELS}
MANAGER_EXTRA = {"survey": ["add"], "question": ["add", "delete"],
                 "locationmanager": ["add", "delete"]}


def forwards(apps, schema_editor):
    Survey = apps.get_model("surveys", "Survey")
    Question = apps.get_model("surveys", "Question")
    for column, language in ((3, "en"), (4, "es")):
        if Survey.objects.filter(name=NAME, language=language).exists():
            continue
        survey = Survey.objects.create(name=NAME, language=language, active=True,
                                       source="standard", approved_at=timezone.now())
        for order, row in enumerate(QUESTIONS, start=1):
            Question.objects.create(survey=survey, order=order, code=row[0], kind=row[1],
                                    required=row[2], text=row[column])
    _groups.ensure_permissions(apps)
    _groups.grant(apps, "Manager", "surveys", MANAGER)
    _groups.grant(apps, "Manager", "surveys", MANAGER_EXTRA)


class Migration(migrations.Migration):
    dependencies = [("surveys", "0001_surveys_responses_tickets")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
