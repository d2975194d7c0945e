//! The two migration folders, `migrations/sqlite/` and `migrations/postgres/`, describe one
//! schema: a fresh database of each kind is migrated by the host's own `Db::connect`, then
//! both are read back from the databases' catalogues (not from the SQL files) and compared:
//! tables, columns (name, nullability, a normalised type), primary keys, indexes (by table,
//! column list, uniqueness and whether partial) and foreign keys (columns, target, ON DELETE).
//!
//! Names the dialects generate differently (`sqlite_autoindex_*`, `*_pkey`, `*_key`, constraint
//! names) are not compared; what they index is. SQLite has no boolean type, so a PostgreSQL
//! `boolean` matches a SQLite `INTEGER` (0/1) column; every other type must normalise alike.

mod support;

use std::collections::BTreeSet;
use std::fmt;

use emporium::infra::db::Db;
use sqlx::Row;

/// A type as both dialects can agree on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Type {
    Integer,
    Boolean,
    Text,
    Real,
    Numeric,
    Blob,
    Timestamp,
    Json,
    Other,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Integer => "integer",
            Type::Boolean => "boolean",
            Type::Text => "text",
            Type::Real => "real",
            Type::Numeric => "numeric",
            Type::Blob => "blob",
            Type::Timestamp => "timestamp",
            Type::Json => "json",
            Type::Other => "other",
        })
    }
}

/// SQLite's declared type, by its affinity rules (https://sqlite.org/datatype3.html §3.1).
fn sqlite_type(declared: &str) -> Type {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        Type::Integer
    } else if t.contains("BOOL") {
        Type::Boolean
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        Type::Text
    } else if t.is_empty() || t.contains("BLOB") {
        Type::Blob
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        Type::Real
    } else if t.contains("JSON") {
        Type::Json
    } else if t.contains("TIME") || t.contains("DATE") {
        Type::Timestamp
    } else {
        Type::Numeric
    }
}

/// PostgreSQL's `information_schema.columns.data_type`.
fn postgres_type(data_type: &str) -> Type {
    match data_type {
        "smallint" | "integer" | "bigint" => Type::Integer,
        "boolean" => Type::Boolean,
        "text" | "character varying" | "character" => Type::Text,
        "real" | "double precision" => Type::Real,
        "numeric" => Type::Numeric,
        "bytea" => Type::Blob,
        "json" | "jsonb" => Type::Json,
        t if t.starts_with("timestamp") || t == "date" || t.starts_with("time") => Type::Timestamp,
        _ => Type::Other,
    }
}

/// One fact about a schema, comparable across dialects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Fact {
    Table(String),
    Column {
        table: String,
        name: String,
        ty: Type,
        nullable: bool,
    },
    PrimaryKey {
        table: String,
        columns: Vec<String>,
    },
    Index {
        table: String,
        columns: Vec<String>,
        unique: bool,
        partial: bool,
    },
    ForeignKey {
        table: String,
        columns: Vec<String>,
        target: String,
        target_columns: Vec<String>,
        on_delete: String,
    },
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Table(t) => write!(f, "table {t}"),
            Fact::Column {
                table,
                name,
                ty,
                nullable,
            } => write!(
                f,
                "column {table}.{name} {ty}{}",
                if *nullable { " null" } else { " not null" }
            ),
            Fact::PrimaryKey { table, columns } => {
                write!(f, "primary key {table} ({})", columns.join(", "))
            }
            Fact::Index {
                table,
                columns,
                unique,
                partial,
            } => write!(
                f,
                "{}index on {table} ({}){}",
                if *unique { "unique " } else { "" },
                columns.join(", "),
                if *partial { " where ..." } else { "" }
            ),
            Fact::ForeignKey {
                table,
                columns,
                target,
                target_columns,
                on_delete,
            } => write!(
                f,
                "foreign key {table} ({}) references {target} ({}) on delete {on_delete}",
                columns.join(", "),
                target_columns.join(", ")
            ),
        }
    }
}

type Schema = BTreeSet<Fact>;

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn sqlite_schema(db: &Db) -> Schema {
    let pool = &db.pool;
    let mut schema = Schema::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for table in &tables {
        schema.insert(Fact::Table(table.clone()));
        let columns = sqlx::query(
            "SELECT name, type, \"notnull\" AS not_null, pk FROM pragma_table_info($1) ORDER BY cid",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut primary: Vec<(i64, String)> = Vec::new();
        for c in &columns {
            let name: String = c.try_get("name").unwrap();
            let pk: i64 = c.try_get("pk").unwrap();
            if pk > 0 {
                primary.push((pk, name.clone()));
            }
            schema.insert(Fact::Column {
                table: table.clone(),
                ty: sqlite_type(&c.try_get::<String, _>("type").unwrap()),
                // A primary key column holds no NULL in the shop (SQLite would allow it in a
                // non-INTEGER key, a legacy quirk; PostgreSQL never does).
                nullable: c.try_get::<i64, _>("not_null").unwrap() == 0 && pk == 0,
                name,
            });
        }
        primary.sort();
        let primary: Vec<String> = primary.into_iter().map(|(_, n)| n).collect();
        if !primary.is_empty() {
            schema.insert(Fact::PrimaryKey {
                table: table.clone(),
                columns: primary.clone(),
            });
        }
        let indexes = sqlx::query(
            "SELECT name, \"unique\" AS is_unique, origin, partial FROM pragma_index_list($1)",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        for index in &indexes {
            // The primary key's own index (when it is not the rowid) is the key, compared above.
            if index.try_get::<String, _>("origin").unwrap() == "pk" {
                continue;
            }
            let name: String = index.try_get("name").unwrap();
            let columns: Vec<Option<String>> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(pool)
                    .await
                    .unwrap();
            schema.insert(Fact::Index {
                table: table.clone(),
                columns: columns
                    .into_iter()
                    .map(|c| c.unwrap_or_else(|| "(expression)".into()))
                    .collect(),
                unique: index.try_get::<i64, _>("is_unique").unwrap() == 1,
                partial: index.try_get::<i64, _>("partial").unwrap() == 1,
            });
        }
        let keys = sqlx::query(
            "SELECT id, \"table\" AS target, \"from\" AS col, \"to\" AS target_col, on_delete \
             FROM pragma_foreign_key_list($1) ORDER BY id, seq",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut by_id: std::collections::BTreeMap<i64, Fact> = Default::default();
        for k in &keys {
            let id: i64 = k.try_get("id").unwrap();
            let target: String = k.try_get("target").unwrap();
            // `REFERENCES t` without a column names t's primary key; the migrations spell it
            // out, and a missing one shows up as an empty list in the comparison.
            let target_col: Option<String> = k.try_get("target_col").unwrap();
            let entry = by_id.entry(id).or_insert_with(|| Fact::ForeignKey {
                table: table.clone(),
                columns: Vec::new(),
                target: target.clone(),
                target_columns: Vec::new(),
                on_delete: k.try_get::<String, _>("on_delete").unwrap(),
            });
            if let Fact::ForeignKey {
                columns,
                target_columns,
                ..
            } = entry
            {
                columns.push(k.try_get("col").unwrap());
                target_columns.extend(target_col);
            }
        }
        schema.extend(by_id.into_values());
    }
    schema
}

async fn postgres_schema(db: &Db) -> Schema {
    let pool = &db.pool;
    let mut schema = Schema::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    schema.extend(tables.iter().cloned().map(Fact::Table));
    let columns = sqlx::query(
        "SELECT table_name::text AS tbl, column_name::text AS name, data_type::text AS ty, \
         (is_nullable = 'YES') AS nullable FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for c in &columns {
        schema.insert(Fact::Column {
            table: c.try_get("tbl").unwrap(),
            name: c.try_get("name").unwrap(),
            ty: postgres_type(&c.try_get::<String, _>("ty").unwrap()),
            nullable: c.try_get("nullable").unwrap(),
        });
    }
    // Column lists in key order; an expression (attnum 0) has no attribute row. B-tree
    // indexes only: PostgreSQL's trigram (GIN) search indexes (0027_dashboard_list_indexes) have no SQLite
    // counterpart; they make the same queries faster and change no result.
    let indexes = sqlx::query(
        "SELECT t.relname::text AS tbl, ix.indisunique AS is_unique, \
           ix.indisprimary AS is_primary, (ix.indpred IS NOT NULL) AS partial, \
           array_to_string(ARRAY(SELECT COALESCE(a.attname::text, '(expression)') \
             FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum \
             ORDER BY k.ord), ',') AS cols \
         FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_am am ON am.oid = i.relam \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND t.relname <> '_sqlx_migrations' \
         AND am.amname = 'btree'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for index in &indexes {
        let table: String = index.try_get("tbl").unwrap();
        let columns = split(&index.try_get::<String, _>("cols").unwrap());
        if index.try_get::<bool, _>("is_primary").unwrap() {
            schema.insert(Fact::PrimaryKey { table, columns });
        } else {
            schema.insert(Fact::Index {
                table,
                columns,
                unique: index.try_get("is_unique").unwrap(),
                partial: index.try_get("partial").unwrap(),
            });
        }
    }
    let keys = sqlx::query(
        "SELECT cl.relname::text AS tbl, rc.relname::text AS target, \
           array_to_string(ARRAY(SELECT a.attname::text FROM unnest(con.conkey) \
             WITH ORDINALITY AS k(attnum, ord) JOIN pg_attribute a \
             ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord), ',') AS cols, \
           array_to_string(ARRAY(SELECT a.attname::text FROM unnest(con.confkey) \
             WITH ORDINALITY AS k(attnum, ord) JOIN pg_attribute a \
             ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord), ',') \
             AS target_cols, \
           con.confdeltype::text AS on_delete \
         FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid \
         JOIN pg_class rc ON rc.oid = con.confrelid \
         JOIN pg_namespace n ON n.oid = cl.relnamespace \
         WHERE con.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for k in &keys {
        let on_delete = match k.try_get::<String, _>("on_delete").unwrap().as_str() {
            "a" => "NO ACTION",
            "r" => "RESTRICT",
            "c" => "CASCADE",
            "n" => "SET NULL",
            "d" => "SET DEFAULT",
            other => panic!("unknown ON DELETE action {other:?}"),
        };
        schema.insert(Fact::ForeignKey {
            table: k.try_get("tbl").unwrap(),
            columns: split(&k.try_get::<String, _>("cols").unwrap()),
            target: k.try_get("target").unwrap(),
            target_columns: split(&k.try_get::<String, _>("target_cols").unwrap()),
            on_delete: on_delete.into(),
        });
    }
    schema
}

/// What one dialect has and the other lacks, one line each; empty when they agree. A SQLite
/// INTEGER column matches a PostgreSQL boolean one (SQLite stores flags as 0/1).
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let as_sqlite_sees = |fact: &Fact| match fact {
        Fact::Column {
            table,
            name,
            ty: Type::Boolean,
            nullable,
        } => Fact::Column {
            table: table.clone(),
            name: name.clone(),
            ty: Type::Integer,
            nullable: *nullable,
        },
        other => other.clone(),
    };
    let postgres: Schema = postgres.iter().map(as_sqlite_sees).collect();
    let sqlite: Schema = sqlite.iter().map(as_sqlite_sees).collect();
    let mut out: Vec<String> = sqlite
        .difference(&postgres)
        .map(|f| format!("only in migrations/sqlite:   {f}"))
        .collect();
    out.extend(
        postgres
            .difference(&sqlite)
            .map(|f| format!("only in migrations/postgres: {f}")),
    );
    out
}

/// Both databases, freshly migrated.
async fn migrated() -> (Db, Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("parity.db").display()
    );
    let sqlite = Db::connect(&sqlite_url, 1).await.expect("migrated SQLite");
    let postgres = Db::connect(&support::fresh_postgres_database().await, 1)
        .await
        .expect("migrated PostgreSQL");
    (sqlite, postgres, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_folders_build_the_same_schema() {
    let (sqlite, postgres, _dir) = migrated().await;
    let (s, p) = (
        sqlite_schema(&sqlite).await,
        postgres_schema(&postgres).await,
    );
    // The readers found the schema at all (an empty read would compare equal).
    assert!(s.contains(&Fact::Table("shop_order".into())), "{s:?}");
    assert!(p.contains(&Fact::Table("shop_order".into())), "{p:?}");
    let diff = differences(&s, &p);
    assert!(
        diff.is_empty(),
        "the migration folders have drifted apart:\n{}",
        diff.join("\n")
    );
}

/// The comparison notices a change made to one dialect only: a column, its nullability, an
/// index (read from either side), a foreign key's ON DELETE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_one_dialect_only_is_found() {
    let (sqlite, postgres, _dir) = migrated().await;
    let before = differences(
        &sqlite_schema(&sqlite).await,
        &postgres_schema(&postgres).await,
    );
    for sql in [
        "ALTER TABLE shop_order ADD COLUMN gift_note TEXT",
        "CREATE INDEX parity_probe_currency ON shop_order(currency)",
        "CREATE TABLE parity_probe (id INTEGER PRIMARY KEY, \
         order_id INTEGER NOT NULL REFERENCES shop_order(id) ON DELETE CASCADE)",
    ] {
        sqlx::query(sql).execute(&sqlite.pool).await.unwrap();
    }
    for sql in [
        "CREATE TABLE parity_probe (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
         order_id BIGINT REFERENCES shop_order(id) ON DELETE SET NULL)",
        "CREATE UNIQUE INDEX parity_probe_order ON parity_probe(order_id)",
    ] {
        sqlx::query(sql).execute(&postgres.pool).await.unwrap();
    }
    let after = differences(
        &sqlite_schema(&sqlite).await,
        &postgres_schema(&postgres).await,
    );
    let new: Vec<&String> = after.iter().filter(|d| !before.contains(d)).collect();
    for expected in [
        "only in migrations/sqlite:   column shop_order.gift_note text null",
        "only in migrations/sqlite:   index on shop_order (currency)",
        "only in migrations/sqlite:   column parity_probe.order_id integer not null",
        "only in migrations/postgres: column parity_probe.order_id integer null",
        "only in migrations/sqlite:   foreign key parity_probe (order_id) references shop_order (id) on delete CASCADE",
        "only in migrations/postgres: foreign key parity_probe (order_id) references shop_order (id) on delete SET NULL",
        "only in migrations/postgres: unique index on parity_probe (order_id)",
    ] {
        assert!(
            new.iter().any(|d| *d == expected),
            "not found: {expected}\nfound:\n{}",
            after.join("\n")
        );
    }
    assert_eq!(new.len(), 7, "{new:#?}");
}

#[test]
fn types_normalise_alike() {
    assert_eq!(sqlite_type("INTEGER"), postgres_type("bigint"));
    assert_eq!(sqlite_type("BIGINT"), postgres_type("integer"));
    assert_eq!(sqlite_type("TEXT"), postgres_type("text"));
    assert_eq!(sqlite_type("REAL"), postgres_type("double precision"));
    assert_eq!(sqlite_type("BOOLEAN"), postgres_type("boolean"));
    assert_ne!(sqlite_type("TEXT"), postgres_type("bigint"));
    assert_ne!(sqlite_type("REAL"), postgres_type("numeric"));
}
