"""Django's makemessages, also finding the sentences kept as data (fulfillment.texts).

Those are marked with `N_` (gettext_noop under the name gettext's own tools use) and `plural_text(singular, plural,
…)`, which xgettext does not know by default (Django's documented way: override `xgettext_options`).
"""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=N_", "--keyword=plural_text:1,2"]
