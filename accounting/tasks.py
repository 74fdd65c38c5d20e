"""django-q2 entry points: take ids, load, call a service. Each is safe to run twice."""

from accounting.services.exports import export_order as _export_order, exports_run_open


def export_order(export_id):
    export = _export_order(export_id=export_id)
    if export is None:
        return f"export {export_id} gone"
    return f"{export.state} {export.reference or export.error}".strip()


def run_open_exports():
    """Nightly: whatever is still open and now matches its store's rule is exported."""
    counts = exports_run_open()
    return ", ".join(f"{name}: {n}" for name, n in counts.as_dict().items())
