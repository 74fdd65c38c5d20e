from projects.admin import projects  # noqa: F401  (registers the ModelAdmins; the order page panel is in order_panel)
