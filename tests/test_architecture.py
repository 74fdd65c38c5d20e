"""The house rules that a reader should not have to check by hand (docs/architecture.md).

No import cycle among the project's modules; fulfillment imports no other app (what follows an order goes through
fulfillment.followers, print files through fulfillment.print_files, pages through fulfillment.extensions); tasks
are queued through the one queue module; a module over 400 lines says why at its top.
"""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("backoffice", "fulfillment", "projects", "accounting")
LONG_MODULE = 400
LONG_MODULE_NOTE = "Over 400 lines:"


def project_modules():
    modules = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = project_modules()


def _resolve(name):
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module, path):
    """(imported project module, inside a function?) for every import of the module."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    local = {id(node) for function in ast.walk(tree) if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
             for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target)
            if resolved and resolved != module:
                yield resolved, id(node) in local


def import_graph(*, with_local=True):
    graph = defaultdict(set)
    for module, path in MODULES.items():
        for target, local in _imports(module, path):
            if with_local or not local:
                graph[module].add(target)
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_the_project_modules_even_through_imports_inside_functions():
    assert cycles(import_graph(with_local=True)) == []


def test_fulfillment_imports_no_other_app():
    graph = import_graph()
    crossing = sorted((module, target) for module in MODULES if module.startswith("fulfillment")
                      for target in graph[module] if target.split(".")[0] in ("projects", "accounting"))
    assert crossing == []


def test_no_app_imports_another_apps_private_names():
    private = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in APPS \
                    and node.module.split(".")[0] != module.split(".")[0]:
                private += [(module, f"{node.module}.{a.name}") for a in node.names if a.name.startswith("_")]
    assert private == []


def test_tasks_are_queued_through_the_one_queue_module():
    calls = sorted(module for module, path in MODULES.items() if module != "fulfillment.task_queue"
                   and "async_task" in path.read_text())
    assert calls == []


def test_a_module_over_400_lines_says_why_at_its_top():
    long_without_reason = sorted(
        (module, len(path.read_text().splitlines())) for module, path in MODULES.items()
        if len(path.read_text().splitlines()) > LONG_MODULE and LONG_MODULE_NOTE not in path.read_text()[:3000])
    assert long_without_reason == []


def test_the_checks_above_see_the_modules_they_judge():
    # A graph that found nothing because it read nothing would pass every test above.
    graph = import_graph()
    assert len(MODULES) > 100
    assert "fulfillment.followers" in graph["fulfillment.services.mirror"]
    assert "fulfillment.followers" in graph["accounting.apps"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
