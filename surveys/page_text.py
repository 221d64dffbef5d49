"""The words of the patient's survey page in each survey language.

Questions come from the Question rows of the survey's language; this is the page around them.
Kept as data (not gettext catalogues) so the page needs no compiled .mo files to be bilingual.
"""

from __future__ import annotations

MAX_TEXT = 2000  # characters per free-text answer

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "How was your visit?",
        "hello": "Hello",
        "intro": (
            "Thank you for your visit. This short survey takes about two minutes. "
            "Every question is optional except the first."
        ),
        "urgent": "If you need medical help now, call 911 or your clinic. This form is not read "
        "around the clock.",
        "required": "required",
        "nps_low": "0 = not at all likely",
        "nps_high": "10 = extremely likely",
        "rating_low": "0 = worst possible",
        "rating_high": "10 = best possible",
        "text_hint": f"Optional, up to {MAX_TEXT:,} characters.",
        "submit": "Send my answers",
        "save": "Save and finish later",
        "errors_title": "Please check your answers",
        "err_required": "Please answer this question.",
        "err_choice": "Please choose one of the options.",
        "err_too_long": "Please shorten this answer to {max} characters or fewer (it has {count}).",
        "err_bad_chars": "This answer contains characters we cannot read. Please type it again.",
        "not_saved": "Nothing was saved yet.",
        "saved_title": "Your answers are saved",
        "saved_body": "Open the same link again to finish. It works until {date}.",
        "back": "Back to the survey",
        "thanks_title": "Thank you",
        "thanks_body": "Your answers have reached your clinic. They help us improve care.",
        "used_title": "This survey is already answered",
        "used_body": "Thank you: your answers were received. There is nothing more to do.",
        "expired_title": "This survey link has expired",
        "expired_body": "Surveys close a few weeks after a visit. Thank you for your interest.",
        "invalid_title": "This link does not work",
        "invalid_body": "It may have been copied incompletely. Please check the message we sent.",
    },
    "es": {
        "title": "¿Cómo fue su visita?",
        "hello": "Hola",
        "intro": (
            "Gracias por su visita. Esta breve encuesta toma unos dos minutos. "
            "Todas las preguntas son opcionales excepto la primera."
        ),
        "urgent": "Si necesita ayuda médica ahora, llame al 911 o a su clínica. Este formulario "
        "no se lee a toda hora.",
        "required": "obligatoria",
        "nps_low": "0 = nada probable",
        "nps_high": "10 = muy probable",
        "rating_low": "0 = el peor posible",
        "rating_high": "10 = el mejor posible",
        "text_hint": f"Opcional, hasta {MAX_TEXT:,} caracteres.".replace(",", "."),
        "submit": "Enviar mis respuestas",
        "save": "Guardar y terminar después",
        "errors_title": "Revise sus respuestas",
        "err_required": "Por favor responda esta pregunta.",
        "err_choice": "Por favor elija una de las opciones.",
        "err_too_long": "Acorte esta respuesta a {max} caracteres o menos (tiene {count}).",
        "err_bad_chars": "Esta respuesta tiene caracteres que no podemos leer. Escríbala de nuevo.",
        "not_saved": "Todavía no se guardó nada.",
        "saved_title": "Sus respuestas están guardadas",
        "saved_body": "Abra el mismo enlace para terminar. Funciona hasta el {date}.",
        "back": "Volver a la encuesta",
        "thanks_title": "Gracias",
        "thanks_body": "Sus respuestas llegaron a su clínica. Nos ayudan a mejorar la atención.",
        "used_title": "Esta encuesta ya fue respondida",
        "used_body": "Gracias: recibimos sus respuestas. No tiene que hacer nada más.",
        "expired_title": "Este enlace de encuesta venció",
        "expired_body": "Las encuestas se cierran unas semanas después de la visita. Gracias.",
        "invalid_title": "Este enlace no funciona",
        "invalid_body": "Puede que se haya copiado incompleto. Revise el mensaje que le enviamos.",
    },
}

LIKERT: dict[str, list[tuple[int, str]]] = {
    "en": [(1, "Never"), (2, "Sometimes"), (3, "Usually"), (4, "Always")],
    "es": [(1, "Nunca"), (2, "A veces"), (3, "La mayoría de las veces"), (4, "Siempre")],
}


def text_for(language: str) -> dict[str, str]:
    return TEXT.get(language, TEXT["en"])
