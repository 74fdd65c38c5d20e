"""Form fields the accounting admin's rules share."""

from django import forms
from django.core.exceptions import ValidationError

from accounting.models import normalise_statuses


class StatusListField(forms.CharField):
    """The rule's statuses as "completed, shipped" in the form, a list of slugs in the database."""

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(value)
        return value

    def to_python(self, value):
        try:
            return normalise_statuses(super().to_python(value))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["statuses"]) from None
