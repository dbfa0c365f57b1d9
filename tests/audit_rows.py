"""Reading the audit trail from a test: which actions were recorded against one target."""
from __future__ import annotations

from pathlib import Path

from engine.store import connect


def actions_on(db_path: Path | str, target_id: str) -> list[str]:
    """Audit actions recorded for ``target_id`` in the store at ``db_path``, oldest first."""
    db = connect(db_path)
    try:
        return [r[0] for r in db.conn.execute("SELECT action FROM audit WHERE target_id = ? ORDER BY id", (target_id,))]
    finally:
        db.conn.close()
