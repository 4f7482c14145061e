"""The schema's DDL, compiled from the sqlmodel tables in state/models.py. Generated:
after editing the models, run `python scripts/gen_ddl.py` (tests/state/test_schema.py
fails while this file is stale)."""

STATEMENTS: tuple[str, ...] = (
    (
        'CREATE TABLE IF NOT EXISTS meta ( "key" VARCHAR NOT NULL, value VARCHAR NOT'
        ' NULL, PRIMARY KEY ("key") )'
    ),
    (
        'CREATE TABLE IF NOT EXISTS images ( id INTEGER NOT NULL, app VARCHAR NOT NULL,'
        ' tag VARCHAR NOT NULL, image_id VARCHAR NOT NULL, input_hash VARCHAR NOT NULL,'
        ' files_json VARCHAR NOT NULL, created_at FLOAT NOT NULL, PRIMARY KEY (id) )'
    ),
    (
        'CREATE UNIQUE INDEX IF NOT EXISTS ix_images_app_tag ON images (app, tag)'
    ),
    (
        'CREATE INDEX IF NOT EXISTS ix_images_input_hash ON images (input_hash)'
    ),
    (
        'CREATE TABLE IF NOT EXISTS containers ( container_id VARCHAR NOT NULL, app'
        ' VARCHAR NOT NULL, name VARCHAR NOT NULL, version VARCHAR NOT NULL, host_port'
        ' INTEGER, state VARCHAR NOT NULL, health VARCHAR NOT NULL, created_at FLOAT NOT'
        ' NULL, updated_at FLOAT NOT NULL, PRIMARY KEY (container_id) )'
    ),
    (
        'CREATE INDEX IF NOT EXISTS ix_containers_app ON containers (app)'
    ),
    (
        'CREATE TABLE IF NOT EXISTS applied ( app VARCHAR NOT NULL, version VARCHAR NOT'
        ' NULL, image VARCHAR NOT NULL, container_id VARCHAR NOT NULL, spec_json VARCHAR'
        ' NOT NULL, files_json VARCHAR NOT NULL, applied_at FLOAT NOT NULL, PRIMARY KEY'
        ' (app) )'
    ),
    (
        'CREATE TABLE IF NOT EXISTS runs ( id INTEGER NOT NULL, command VARCHAR NOT NULL,'
        ' plan_text VARCHAR NOT NULL, started_at FLOAT NOT NULL, finished_at FLOAT,'
        ' outcome VARCHAR NOT NULL, duration FLOAT, PRIMARY KEY (id) )'
    ),
    (
        'CREATE TABLE IF NOT EXISTS run_steps ( id INTEGER NOT NULL, run_id INTEGER NOT'
        ' NULL, step_id VARCHAR NOT NULL, app VARCHAR NOT NULL, action VARCHAR NOT NULL,'
        ' target VARCHAR NOT NULL, cause VARCHAR NOT NULL, outcome VARCHAR NOT NULL,'
        ' message VARCHAR NOT NULL, duration FLOAT NOT NULL, PRIMARY KEY (id), FOREIGN'
        ' KEY(run_id) REFERENCES runs (id) )'
    ),
    (
        'CREATE INDEX IF NOT EXISTS ix_run_steps_run_id ON run_steps (run_id)'
    ),
    (
        'CREATE TABLE IF NOT EXISTS file_digests ( path VARCHAR NOT NULL, size INTEGER'
        ' NOT NULL, mtime_ns INTEGER NOT NULL, digest VARCHAR NOT NULL, PRIMARY KEY (path)'
        ' )'
    ),
    (
        'CREATE TABLE IF NOT EXISTS eval_cache ( slot VARCHAR NOT NULL, "key" VARCHAR NOT'
        ' NULL, value BLOB NOT NULL, PRIMARY KEY (slot) )'
    ),
    (
        'CREATE TABLE IF NOT EXISTS stopped_apps ( app VARCHAR NOT NULL, stopped_at FLOAT'
        ' NOT NULL, PRIMARY KEY (app) )'
    ),
    (
        'CREATE TABLE IF NOT EXISTS idle_apps ( app VARCHAR NOT NULL, since FLOAT NOT'
        ' NULL, reason VARCHAR NOT NULL, PRIMARY KEY (app) )'
    ),
)
