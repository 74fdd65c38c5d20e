from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = _("Personalisation projects")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from fulfillment import demo, extensions, followers, print_files
        from fulfillment.followers import Changed, OnFailure
        from projects.admin.order_panel import PersonalisationPanel
        from projects.demo import demo_customer_login, demo_projects
        from projects.demo_templates import demo_templates
        from projects.selectors import PRINT_FILES
        from projects.services.ordering import projects_follow_orders

        # After the countdown (10): the order's lines name their projects, which learn their order and are rendered
        # for print. A failure there must not hold up the order's mirror: retried by the followers' schedule.
        followers.register("projects", projects_follow_orders, position=20, on_failure=OnFailure.RETRY,
                           wants={Changed.ARRIVED, Changed.UPDATED})
        print_files.register(PRINT_FILES)
        extensions.register_order_page_panel(PersonalisationPanel())
        # The demo: each shop's templates before its orders, the projects of its orders' lines after them.
        demo.register_store_setup("projects-templates", demo_templates)
        demo.register_store_loaded("projects", demo_projects)
        demo.register_login("projects-customer", demo_customer_login)
