"""Write state/ddl.py: the schema's CREATE TABLE/INDEX statements, compiled by SQLAlchemy from
the sqlmodel tables in state/models.py, so that creating a state database needs no SQLAlchemy.

    python scripts/gen_ddl.py

Run it after editing the models; tests/state/test_schema.py fails while state/ddl.py is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from state.schema import compiled_ddl, ddl_module

if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "state" / "ddl.py"
    statements = compiled_ddl()
    target.write_text(ddl_module(statements))
    print(f"wrote {target.name}: {len(statements)} statements")
