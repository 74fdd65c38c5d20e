"""Where the print-ready files of an order line come from, besides the line's own meta: registered sources.

The projects app registers its renders (a personalised line's newest production version) from its
AppConfig.ready(); production asks here, never another app directly. A source `claims` the lines it makes files
for; for those it says the files, why none can go yet, and whether one is being made (the order is then
eligible soon), and which stored files are its print files (served to providers by signed links).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PrintFileSource:
    name: str
    claims: object  # callable(line) -> bool
    files: object  # callable(line) -> [location]: a URL or a local path, as providers take them
    problem: object  # callable(line) -> str or None, in staff's words
    pending: object  # callable(line) -> bool
    # callable(storage name) -> bool: whether a stored file is one of this source's print files, which a provider
    # may fetch by a signed link (fulfillment.file_links); None: it serves none.
    serves: object = None


_sources = {}


def register(source):
    """Add (or replace, by name) a source of print files."""
    _sources[source.name] = source


def _claiming(line):
    return [source for source in _sources.values() if source.claims(line)]


def claimed(line):
    """Whether some source makes this line's print files (then the line cannot go without one)."""
    return bool(_claiming(line))


def line_files(line):
    return [location for source in _claiming(line) for location in source.files(line)]


def line_problem(line):
    """Why the line's files cannot go to production yet, or None."""
    return next((problem for source in _claiming(line) if (problem := source.problem(line))), None)


def line_pending(line):
    return any(source.pending(line) for source in _claiming(line))


def serves(name):
    """Whether some source says the stored file `name` (relative to MEDIA_ROOT) is one of its print files."""
    return any(source.serves(name) for source in _sources.values() if source.serves is not None)
