"""`manage.py qcluster`: django-q2's command, with a cluster that survives a process killed inside its queues.

fulfillment is listed before django_q in INSTALLED_APPS so that this command is the one Django finds
(fulfillment/task_cluster.py says why). What it does is django-q2's own handle(), with our cluster.
"""

import os

from django.conf import settings
from django_q.management.commands import qcluster

from fulfillment.task_cluster import start_cluster


class Command(qcluster.Command):
    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018 (as django-q2's: no cluster without the signing key)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = start_cluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
