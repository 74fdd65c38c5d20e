from projects.admin import orders, projects  # noqa: F401  (registers the ModelAdmins; orders extends the order's)
