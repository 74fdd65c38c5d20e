from projects.models.projects import CustomerProfile, ProductTemplate, Project, ProjectAsset, ProjectEvent, Render

__all__ = ["CustomerProfile", "ProductTemplate", "Project", "ProjectAsset", "ProjectEvent", "Render"]
