"""Business actions on projects: one keyword-only function per action."""
