"""The house rules for the code's shape: no import cycles, arrows pointing down, one record per source."""

import ast
import re
from pathlib import Path

from tests.support.processes import ROOT
from triggers.choices import Source
from triggers.sources import SOURCES

PACKAGES = ("triggers", "whatsapp", "evonexus")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Return the project modules `path` imports anywhere (functions included: a late import is one too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle as a list of modules, or `None` when there is none."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for imported in sorted(graph.get(name, ())):
            if cycle := visit(imported, [*path, name]):
                return cycle
        done.add(name)
        return None

    for name in sorted(graph):
        if cycle := visit(name, []):
            return cycle
    return None


def test_no_module_of_ours_imports_itself_back_through_a_cycle():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


# The way an event travels, top to bottom: each folder of triggers/ imports only the ones
# below it (the operators' side calls everything; the senders' modules call nothing).
LAYERS = ("operate", "receive", "execute", "stats", "sources")


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "triggers" or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    return LAYERS.index(parts[1])


def test_the_folders_of_triggers_import_only_the_folders_below_them():
    upward = sorted(
        (name, imported)
        for name, imports in import_graph().items()
        for imported in imports
        if (mine := layer_of(name)) is not None
        and (theirs := layer_of(imported)) is not None
        and theirs < mine
    )

    assert upward == []


def test_the_whatsapp_app_knows_nothing_of_triggers():
    graph = import_graph()
    offenders = {
        name: sorted(i for i in imported if i.startswith("triggers"))
        for name, imported in graph.items()
        if name.startswith("whatsapp")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_models_import_only_the_pure_modules_of_ours_and_the_whatsapp_instances():
    # A trigger names its WhatsApp instance: the one model of the app below it they know.
    pure = {"triggers.choices", "triggers.validators", "triggers.outcomes", "whatsapp.models"}
    assert import_graph()["triggers.models"] <= pure


def test_the_senders_modules_are_pure_and_import_nothing_of_ours_but_each_other():
    graph = import_graph()
    senders = {name for name in graph if name == "triggers.sources" or name.startswith("triggers.sources.")}
    assert len(senders) > 7
    assert {name: graph[name] - senders for name in senders} == {name: set() for name in senders}


def test_every_source_has_exactly_one_record():
    assert sorted(SOURCES) == sorted(Source.values)


# The development guide lives beside the repository; naming it here would be a citation too.
OUTSIDE = re.compile(re.escape("..") + "/" + "shared|" + "shared" + "/guide")


def test_nothing_cites_files_outside_the_repository():
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*")
        if path.suffix in (".py", ".md", ".html", ".sh", ".toml")
        and not {".venv", ".git", "node_modules"} & set(path.parts)
        and OUTSIDE.search(path.read_text(errors="ignore"))
    ]

    assert offenders == []
