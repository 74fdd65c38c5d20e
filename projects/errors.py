"""Domain errors of the projects app."""


class ProjectError(ValueError):
    """An action on a project or its images is refused; `field` names the input that is wrong (the API's 400)."""

    def __init__(self, message, *, field=None):
        super().__init__(message)
        self.message = str(message)
        self.field = field


class ProjectReadOnly(ProjectError):
    """The project may not be changed any more by a customer (ordered, or deleted)."""
