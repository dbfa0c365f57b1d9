"""Schema migrations, applied in order by :func:`engine.store.apply_migrations`.

Append new migrations at the end with a new unique name; never edit one that
has shipped. Names carry the feature they belong to so parallel work merges.
"""
from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_core",
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('clinician', 'analyst', 'admin')),
            disabled INTEGER NOT NULL DEFAULT 0,
            failed_attempts INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            created_at TEXT NOT NULL,
            last_login_at TEXT
        );
        CREATE TABLE datasets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            source TEXT,
            licence TEXT,
            citation TEXT,
            created_by TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE dataset_versions (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id),
            version INTEGER NOT NULL,
            file_name TEXT,
            file_sha256 TEXT,
            mapping TEXT,
            report TEXT,
            n_rows INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'rolled_back')),
            created_by TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (dataset_id, version)
        );
        CREATE TABLE patients (
            id INTEGER PRIMARY KEY,
            pseudo_id TEXT NOT NULL UNIQUE,
            dataset_version_id INTEGER REFERENCES dataset_versions(id),
            source TEXT,
            licence TEXT,
            sex TEXT CHECK (sex IN ('female', 'male', 'other', 'unknown')),
            age REAL,
            age_group TEXT,
            birth_year INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE TABLE observations (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            dataset_version_id INTEGER REFERENCES dataset_versions(id),
            code TEXT NOT NULL,
            system TEXT NOT NULL DEFAULT 'http://loinc.org',
            name TEXT NOT NULL,
            value_num REAL,
            value_text TEXT,
            unit TEXT,
            time TEXT,
            flag TEXT
        );
        CREATE INDEX idx_observations_patient ON observations(patient_id, code);
        CREATE TABLE conditions (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            dataset_version_id INTEGER REFERENCES dataset_versions(id),
            code TEXT NOT NULL,
            system TEXT NOT NULL DEFAULT 'ICD-10-CM',
            display TEXT,
            onset TEXT
        );
        CREATE INDEX idx_conditions_patient ON conditions(patient_id);
        CREATE TABLE medications (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            dataset_version_id INTEGER REFERENCES dataset_versions(id),
            code TEXT,
            system TEXT,
            display TEXT NOT NULL,
            drug_class TEXT,
            status TEXT DEFAULT 'active'
        );
        CREATE INDEX idx_medications_patient ON medications(patient_id);
        CREATE TABLE allergies (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            substance TEXT NOT NULL,
            drug_class TEXT,
            reaction TEXT
        );
        CREATE TABLE predictions (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER REFERENCES patients(id),
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            inputs TEXT NOT NULL,
            output TEXT NOT NULL,
            explanation TEXT,
            username TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX idx_predictions_patient ON predictions(patient_id);
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            prediction_id INTEGER NOT NULL REFERENCES predictions(id),
            username TEXT NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('agree', 'disagree')),
            reason TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            username TEXT,
            action TEXT NOT NULL,
            target_type TEXT,
            target_id TEXT,
            outcome TEXT NOT NULL,
            details TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
        CREATE TABLE secrets (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        "0700_treatment_decisions",
        """
        CREATE TABLE treatment_decisions (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            rule_id TEXT NOT NULL,
            option TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('accept', 'decline')),
            reason TEXT,
            condition_code TEXT,
            knowledge_base TEXT NOT NULL,
            knowledge_base_version INTEGER NOT NULL,
            inputs TEXT NOT NULL,
            username TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX idx_treatment_decisions_patient ON treatment_decisions(patient_id);
        """,
    ),
    (
        "0500_predict_model_registry",
        """
        CREATE TABLE model_versions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
            promoted INTEGER NOT NULL DEFAULT 0,
            threshold REAL,
            updated_by TEXT,
            updated_at TEXT NOT NULL,
            UNIQUE (name, version)
        );
        CREATE INDEX idx_feedback_prediction ON feedback(prediction_id);
        """,
    ),
    (
        "0400_explore_cohorts",
        """
        CREATE TABLE cohorts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            dataset TEXT NOT NULL,
            spec TEXT NOT NULL,
            n INTEGER NOT NULL,
            created_by TEXT,
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        "0100_records_mappings",
        """
        CREATE TABLE column_mappings (
            name TEXT PRIMARY KEY,
            mapping TEXT NOT NULL,
            created_by TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- Rollback deletes by version. Observations get no such index on purpose: it would slow
        -- every bulk import for the rare rollback, which scans instead.
        CREATE INDEX idx_patients_version ON patients(dataset_version_id);
        CREATE INDEX idx_conditions_version ON conditions(dataset_version_id);
        CREATE INDEX idx_medications_version ON medications(dataset_version_id);
        """,
    ),
]

# Issue 9 (REST API): per-user API tokens. Only the sha256 of a token is kept;
# the token itself is shown once when created. Revocation keeps the row (audit).
MIGRATIONS.append(
    (
        "0900_api_tokens",
        """
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            token_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            label TEXT,
            created_by TEXT,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT,
            revoked_by TEXT
        );
        CREATE INDEX idx_api_tokens_user ON api_tokens(user_id);
        """,
    )
)

# Issue 6 (imaging): stored images, de-identified, one row per (patient, content hash).
MIGRATIONS.append(
    (
        "0600_imaging_images",
        """
        CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            sha256 TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('png', 'jpeg', 'dicom')),
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            header TEXT,
            content BLOB NOT NULL,
            username TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (patient_id, sha256)
        );
        CREATE INDEX idx_images_patient ON images(patient_id);
        """,
    )
)

# Issue 18 (FHIR as hospitals send it): encounters (periods for the timeline and capacity planning),
# immunizations and procedures, per-version allergies (rollback removes them) with FHIR's criticality,
# and a condition's clinical status (a resolved condition is shown but is not an active problem).
MIGRATIONS.append(
    (
        "1800_fhir_encounters_resources",
        """
        CREATE TABLE encounters (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            dataset_version_id INTEGER REFERENCES dataset_versions(id),
            class_code TEXT,
            type_code TEXT,
            type_system TEXT,
            type_display TEXT,
            status TEXT,
            period_start TEXT,
            period_end TEXT,
            discharge_disposition TEXT
        );
        CREATE INDEX idx_encounters_patient ON encounters(patient_id, period_start);
        CREATE INDEX idx_encounters_version ON encounters(dataset_version_id);
        CREATE INDEX idx_encounters_start ON encounters(period_start);
        CREATE TABLE immunizations (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            dataset_version_id INTEGER REFERENCES dataset_versions(id),
            code TEXT,
            system TEXT,
            display TEXT,
            status TEXT,
            occurrence TEXT
        );
        CREATE INDEX idx_immunizations_patient ON immunizations(patient_id);
        CREATE INDEX idx_immunizations_version ON immunizations(dataset_version_id);
        CREATE TABLE procedures (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            dataset_version_id INTEGER REFERENCES dataset_versions(id),
            code TEXT,
            system TEXT,
            display TEXT,
            status TEXT,
            performed_start TEXT,
            performed_end TEXT
        );
        CREATE INDEX idx_procedures_patient ON procedures(patient_id);
        CREATE INDEX idx_procedures_version ON procedures(dataset_version_id);
        ALTER TABLE allergies ADD COLUMN dataset_version_id INTEGER REFERENCES dataset_versions(id);
        ALTER TABLE allergies ADD COLUMN code TEXT;
        ALTER TABLE allergies ADD COLUMN system TEXT;
        ALTER TABLE allergies ADD COLUMN criticality TEXT;
        ALTER TABLE allergies ADD COLUMN clinical_status TEXT;
        CREATE INDEX idx_allergies_version ON allergies(dataset_version_id);
        ALTER TABLE conditions ADD COLUMN clinical_status TEXT;
        ALTER TABLE conditions ADD COLUMN abatement TEXT;
        """,
    )
)

# Issue 17 (capacity): the new 'manager' role, and saved capacity scenarios. SQLite cannot alter a CHECK
# constraint, and rebuilding ``users`` would trip the foreign keys that point at it, so the role list in the
# stored CREATE TABLE text is widened in place (SQLite's documented writable_schema procedure for loosening a
# constraint; existing rows stay valid) and the schema is reloaded. Scenarios hold inputs and aggregate
# results only (daily figures, roster by staff label), never a patient row.
MIGRATIONS.append(
    (
        "1700_capacity_manager_role_and_scenarios",
        """
        PRAGMA writable_schema = ON;
        UPDATE sqlite_master SET sql = replace(sql, '(''clinician'', ''analyst'', ''admin'')',
                                               '(''clinician'', ''analyst'', ''admin'', ''manager'')')
        WHERE type = 'table' AND name = 'users';
        PRAGMA writable_schema = RESET;
        CREATE TABLE capacity_scenarios (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            inputs TEXT NOT NULL,
            results TEXT NOT NULL,
            created_by TEXT,
            created_at TEXT NOT NULL
        );
        """,
    )
)

# Issue 12 (safety): a version trained in the app is never served until an admin promotes it. Only
# shipped bundles fall back to "the first active version serves" while no admin decision exists, so the
# store records where a version came from; versions trained before this migration are found by audit.
MIGRATIONS.append(
    (
        "1200_safety_model_origin",
        """
        ALTER TABLE model_versions ADD COLUMN origin TEXT NOT NULL DEFAULT 'shipped'
            CHECK (origin IN ('shipped', 'trained'));
        UPDATE model_versions SET origin = 'trained' WHERE EXISTS (
            SELECT 1 FROM audit WHERE audit.action = 'models.train'
            AND audit.target_id = model_versions.name || '@' || model_versions.version);
        """,
    )
)

# Issue 12 (treatment): accepting an option a contraindication, allergy or interaction blocked is an
# override; it needs a reason and is marked as such wherever the decision is shown.
MIGRATIONS.append(
    (
        "0710_treatment_decision_override",
        """
        ALTER TABLE treatment_decisions ADD COLUMN override INTEGER NOT NULL DEFAULT 0;
        """,
    )
)

# Issue 15 (clinical notes): de-identified note text, the findings read from it, and the clinician's
# decisions on problems the notes suggest. Each import is a numbered version in note_imports (notes have
# no patient rows of their own, so they are not dataset_versions, whose integrity check counts patients).
# No file name is ever stored: an upload's name can carry an identifier.
MIGRATIONS.append(
    (
        "1500_notes_findings",
        """
        CREATE TABLE note_imports (
            id INTEGER PRIMARY KEY,
            version INTEGER NOT NULL UNIQUE,
            format TEXT NOT NULL CHECK (format IN ('text', 'csv', 'fhir')),
            sha256 TEXT NOT NULL,
            n_notes INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'rolled_back')),
            created_by TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE notes (
            id INTEGER PRIMARY KEY,
            import_id INTEGER NOT NULL REFERENCES note_imports(id),
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            kind TEXT,
            note_date TEXT,
            text TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            redactions TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX idx_notes_patient ON notes(patient_id);
        CREATE INDEX idx_notes_import ON notes(import_id);
        CREATE TABLE note_findings (
            id INTEGER PRIMARY KEY,
            note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            code TEXT NOT NULL,
            label TEXT NOT NULL,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            sentence INTEGER NOT NULL,
            section TEXT,
            negation TEXT NOT NULL,
            temporality TEXT NOT NULL,
            experiencer TEXT NOT NULL
        );
        CREATE INDEX idx_note_findings_note ON note_findings(note_id);
        CREATE INDEX idx_note_findings_patient_code ON note_findings(patient_id, code);
        CREATE TABLE note_problem_reviews (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            code TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('confirmed', 'rejected')),
            condition_id INTEGER REFERENCES conditions(id) ON DELETE SET NULL,
            username TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (patient_id, code)
        );
        """,
    )
)

# Issue 14 (ICU deterioration): stays with timed vitals and labs (hours since ICU admission, LOINC, UCUM),
# and alert acknowledgements. Hours since admission are elapsed times, not dates: no identifier.
MIGRATIONS.append(
    (
        "1400_icu_timed_observations",
        """
        CREATE TABLE icu_stays (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL UNIQUE REFERENCES patients(id) ON DELETE CASCADE,
            dataset_version_id INTEGER REFERENCES dataset_versions(id),
            hours_observed REAL NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE icu_observations (
            stay_id INTEGER NOT NULL REFERENCES icu_stays(id) ON DELETE CASCADE,
            hours REAL NOT NULL,
            parameter TEXT NOT NULL,
            code TEXT NOT NULL,
            value REAL NOT NULL,
            unit TEXT NOT NULL
        );
        CREATE INDEX idx_icu_observations_stay ON icu_observations(stay_id, hours);
        CREATE TABLE icu_alert_acks (
            id INTEGER PRIMARY KEY,
            stay_id INTEGER NOT NULL REFERENCES icu_stays(id) ON DELETE CASCADE,
            hours REAL NOT NULL,
            risk REAL NOT NULL,
            model_version TEXT NOT NULL,
            reason TEXT NOT NULL,
            username TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    )
)

# Issue 12 (safety): browser sessions that survive a reload. The browser holds a signed, expiring,
# HttpOnly cookie naming one row here; log-out, disabling the user, a password reset and expiry revoke it.
# Only SHA-256 hashes of the cookie id and of the one-time hand-over ticket are stored.
MIGRATIONS.append(
    (
        "1200_safety_web_sessions",
        """
        CREATE TABLE web_sessions (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            cookie_hash TEXT UNIQUE,
            ticket_hash TEXT UNIQUE,
            ticket_expires_at TEXT,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked_at TEXT,
            revoked_reason TEXT
        );
        CREATE INDEX idx_web_sessions_user ON web_sessions(user_id);
        """,
    )
)
# Issue 12 (walk-through): stored images listed with the (de-identified) file name they were uploaded as.
MIGRATIONS.append(("1210_imaging_file_name", "ALTER TABLE images ADD COLUMN file_name TEXT;"))
# Issue 15: whether the note asserts a finding or only raises it ("possible pneumonia", "r/o pneumonia"):
# 'Certain' / 'Uncertain'; NULL for findings stored before it was read (treated as before: certain).
MIGRATIONS.append(("1220_note_finding_certainty", "ALTER TABLE note_findings ADD COLUMN certainty TEXT;"))

# Issue 16 (PostgreSQL): the PostgreSQL text of migrations that use SQLite-only statements. Every other
# migration runs on PostgreSQL as written, with types mapped (engine.store.postgres.migration_ddl).
# POSTGRES_EXTRAS adds PostgreSQL statements after a migration's own (its SQLite triggers are dropped).
POSTGRES_EXTRAS: dict[str, str] = {
    "0001_core": """
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit rows are append-only' USING ERRCODE = 'integrity_constraint_violation';
        END $$;
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
        CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT
            EXECUTE FUNCTION audit_append_only();
    """,
}
POSTGRES_MIGRATIONS: dict[str, str] = {
    "1700_capacity_manager_role_and_scenarios": """
        ALTER TABLE users DROP CONSTRAINT users_role_check;
        ALTER TABLE users ADD CONSTRAINT users_role_check
            CHECK (role IN ('clinician', 'analyst', 'admin', 'manager'));
        CREATE TABLE capacity_scenarios (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            name CITEXT NOT NULL UNIQUE,
            inputs TEXT NOT NULL,
            results TEXT NOT NULL,
            created_by TEXT,
            created_at TEXT NOT NULL
        );
    """,
}
