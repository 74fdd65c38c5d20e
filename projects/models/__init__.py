from projects.models.api_keys import EditorApiKey
from projects.models.projects import (CustomerProfile, ProductTemplate, Project, ProjectAsset, ProjectEvent, Render,
                                      RenderPage)
from projects.models.reprocess import Reprocess

__all__ = ["CustomerProfile", "EditorApiKey", "ProductTemplate", "Project", "ProjectAsset", "ProjectEvent", "Render",
           "RenderPage", "Reprocess"]
