from django.core.management.base import BaseCommand, CommandError

from fulfillment.services.secrets import secrets_rotate


class Command(BaseCommand):
    help = ("Re-encrypt every stored secret (shop keys, webhook secrets, provider tokens, supplier API keys) with the "
            "first key of FIELD_ENCRYPTION_KEYS, after a new key was put first; safe to run again. --check only "
            "counts the values not under the first key (exit status 1 when there are any).")

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true",
                            help="Change nothing: report the values not encrypted with the first key.")

    def handle(self, *args, check=False, **options):
        report = secrets_rotate(check=check)
        for column in report:
            line = (f"{column.label}: {column.changed} of {column.values} not under the first key" if check else
                    f"{column.label}: {column.changed} of {column.values} re-encrypted with the first key")
            if column.unreadable:
                line += f", {len(column.unreadable)} unreadable (rows {', '.join(map(str, column.unreadable))})"
            self.stdout.write(line)
        changed = sum(column.changed for column in report)
        unreadable = sum(len(column.unreadable) for column in report)
        if unreadable:
            raise CommandError(f"{unreadable} stored secrets cannot be decrypted with any key of "
                               "FIELD_ENCRYPTION_KEYS: put the key they were encrypted with back in the list and "
                               "run again.")
        if check and changed:
            raise CommandError(f"{changed} stored secrets are not under the first key of FIELD_ENCRYPTION_KEYS: "
                               "run manage.py rotate_secrets.")
        values = sum(column.values for column in report)
        self.stdout.write(f"All {values} stored secrets are under the first key." if check
                          else f"{changed} re-encrypted; all {values} stored secrets are under the first key.")
