"""The state machine table: legal and illegal transitions, derived edges, the diagram."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from pipeline.states import STAGES, TERMINAL, Status, is_legal, mermaid

ROOT = Path(__file__).resolve().parents[2]

HAPPY_PATH = [
    Status.PENDING,
    Status.INGESTING,
    Status.INGESTED,
    Status.CHUNKING,
    Status.CHUNKED,
    Status.EXTRACTING,
    Status.EXTRACTED,
    Status.DEDUPING,
    Status.DEDUPED,
    Status.STORYBOARDING,
    Status.STORYBOARDED,
    Status.REPORTING,
    Status.COMPLETED,
]


def _expected_edges() -> set[tuple[Status, Status]]:
    """The edges DESIGN.md §2 names, written out independently of the derivation."""
    edges = set(itertools.pairwise(HAPPY_PATH))
    edges |= {(s.running, s.running) for s in STAGES}
    edges |= {(s, t) for s in Status if s not in TERMINAL for t in (Status.FAILED, Status.CANCELLED)}
    edges |= {(t, s.ready) for t in TERMINAL for s in STAGES}
    return edges


def test_happy_path_is_the_stage_table():
    """Walking the stages ready → running → done gives DESIGN.md's happy path."""
    walked = [STAGES[0].ready]
    for stage in STAGES:
        walked += [stage.running, stage.done]

    assert HAPPY_PATH == walked


@pytest.mark.parametrize(("from_", "to"), sorted(_expected_edges()))
def test_every_legal_transition_is_allowed(from_, to):
    """Each edge of the design is in the derived table."""
    assert is_legal(from_, to)


def test_nothing_else_is_legal():
    """Every pair outside the design's edges is refused."""
    illegal = {(a, b) for a in Status for b in Status} - _expected_edges()

    assert [] == [pair for pair in illegal if is_legal(*pair)]
    assert _expected_edges() == set(STAGES.transitions)


def test_terminal_states_do_not_advance():
    """COMPLETED, FAILED and CANCELLED only leave by a re-run to a ready state."""
    ready = {s.ready for s in STAGES}
    for status in TERMINAL:
        assert {to for (f, to) in STAGES.transitions if f == status} == ready


def test_progress_bands_tile_zero_to_hundred():
    """Stage bands are contiguous from 0 to 100."""
    bands = [s.progress for s in STAGES]

    assert 0 == bands[0][0]
    assert 100 == bands[-1][1]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bands))


def test_architecture_diagram_matches_the_table():
    """docs/ARCHITECTURE.md carries the diagram mermaid() renders from the table."""
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")

    assert mermaid() in doc


#: Names that stand for the jobs table in our code (the ORM class, its Table, a Table alias).
_JOB_TABLES = {"Job", "_JOBS", "jobs"}


def _is_jobs_table(node: ast.expr) -> bool:
    """``Job``, ``_JOBS``, ``Job.__table__``, ``models.Job``, ``cast(Table, Job.__table__)``."""
    if isinstance(node, ast.Name):
        return node.id in _JOB_TABLES
    if isinstance(node, ast.Attribute):
        return node.attr in _JOB_TABLES or (node.attr == "__table__" and _is_jobs_table(node.value))
    if isinstance(node, ast.Call) and node.args:
        return _is_jobs_table(node.args[-1])
    return False


def _updates_jobs(node: ast.expr) -> bool:
    """Whether a call chain starts at ``update(<jobs>)`` or ``<jobs>.update()``."""
    while isinstance(node, ast.Call | ast.Attribute):
        if isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Name | ast.Attribute)
                and getattr(func, "id", getattr(func, "attr", "")) == "update"
            ):
                target = node.args[0] if node.args else getattr(func, "value", None)
                if target is not None and _is_jobs_table(target):
                    return True
            node = func
        else:
            node = node.value
    return False


def _sets_status(call: ast.Call) -> bool:
    keys = {k.arg for k in call.keywords}
    for arg in call.args:
        if isinstance(arg, ast.Dict):
            keys |= {k.value for k in arg.keys if isinstance(k, ast.Constant)}
    return "status" in keys


def status_writers(source: str) -> list[int]:
    """Lines that write ``jobs.status``: ``.values(status=…)`` (or ``{"status": …}``) on an
    update of the jobs table, however it is spelled, and ``<job>.status = …`` on an ORM job."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("values", "ordered_values")
            and _sets_status(node)
            and _updates_jobs(node.func.value)
        ):
            lines.append(node.lineno)
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign | ast.AugAssign)
            else []
        )
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and target.attr == "status"
                and isinstance(target.value, ast.Name)
                and "job" in target.value.id.lower()
            ):
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    "source",
    [
        "update(Job).where(Job.id == 1).values(status='FAILED')",
        "update(_JOBS).values(status=x)",
        "sa.update(models.Job).values({'status': 'X', 'error': None})",
        "Job.__table__.update().where(c).values(status=s)",
        "update(cast(Table, Job.__table__)).values(status=s)",
        "job.status = 'CANCELLED'",
        "the_job.status: str = s",
    ],
)
def test_the_status_guard_sees_every_spelling(source):
    assert status_writers(source)


@pytest.mark.parametrize(
    "source",
    [
        "update(Chunk).values(status='done')",
        "update(_CHUNKS).where(c).values(status='pending')",
        "update(Job).values(error=None)",
        "chunk.status = 'failed'",
        "select(Job.status).where(Job.status == 'X')",
    ],
)
def test_the_status_guard_lets_other_writes_be(source):
    assert not status_writers(source)


def test_only_transitions_writes_job_status():
    """No module but pipeline/transitions.py writes jobs.status (an AST check, STYLE.md §3)."""
    writers = {}
    for path in [
        *ROOT.glob("pipeline/**/*.py"),
        *ROOT.glob("stages/**/*.py"),
        *ROOT.glob("entrypoints/**/*.py"),
    ]:
        lines = status_writers(path.read_text(encoding="utf-8"))
        if lines:
            writers[str(path.relative_to(ROOT))] = lines
    assert {"pipeline/transitions.py"} == set(writers), writers
