"""``mk card`` answered without opening the workspace: the standard library's sqlite3 on a personal
SQLite registry (``meta.sqlite_fast``), the version, lineage and audit entries read as the other fast
reads read them, and the card rendered by the same ``card.render``. None when the fast path does not
apply, and the command takes the normal path.
"""

from __future__ import annotations

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import EVALUATION_COLUMNS, NOTE_COLUMNS, card_rows, stored_json, stored_time
from modelkeep.services.evaluation.card import AUDIT_ENTRIES, CardParts, approvals_of
from modelkeep.services.evaluation.views import EvaluationView, NoteView
from modelkeep.services.governance.fast_reads import audit_log
from modelkeep.services.models.fast_reads import show_version
from modelkeep.services.runs.fast_reads import lineage


def card(ref: str) -> str | None:
    """What ``card.card`` renders for ``ref``, for the local repository."""
    parts = card_parts(ref)
    return None if parts is None else parts.render()


def card_parts(ref: str) -> CardParts | None:
    """What ``card.card_parts`` reads for ``ref``, for the local repository."""
    view = show_version(ref)
    graph = None if view is None else lineage(view.ref)
    rows = None if view is None or graph is None else card_rows(local_config().db_url, view.name, view.version, view.data)
    entries = None if view is None or rows is None else audit_log(view.name, None, None, AUDIT_ENTRIES)
    if view is None or graph is None or rows is None or entries is None:
        return None
    evaluation_rows, note_rows, digests = rows
    evaluations = []
    for row in evaluation_rows:
        found = dict(zip(EVALUATION_COLUMNS, row, strict=True))
        found.update(metrics=stored_json(found["metrics"]), environment=stored_json(found["environment"]),
                     created_at=stored_time(found["created_at"]))
        evaluations.append(EvaluationView(**found))
    notes = [NoteView(**(dict(zip(NOTE_COLUMNS, row, strict=True)) | {"created_at": stored_time(row[-1])}))
             for row in note_rows]
    datasets = {ref: digest or "(not available)" for ref, digest in digests.items()}
    return CardParts(view, evaluations, notes, graph, approvals_of(view, entries), datasets)
