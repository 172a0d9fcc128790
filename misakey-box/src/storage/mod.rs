//! Storage on SQLite or PostgreSQL through sea-orm (feature `sea-orm`).
//!
//! [`SeaOrmStorage`] implements three ports at once: [`BoxStore`](crate::ports::BoxStore),
//! [`IdentityDirectory`](crate::ports::IdentityDirectory) and
//! [`TokenIntrospector`](crate::ports::TokenIntrospector). Connecting runs the migrations.
//!
//! ```no_run
//! # async fn run() -> Result<(), misakey_box::error::StoreError> {
//! use misakey_box::storage::SeaOrmStorage;
//!
//! let storage = SeaOrmStorage::connect("sqlite://misakey-box.db").await?;
//! // or: SeaOrmStorage::connect("postgres://postgres@127.0.0.1:5432/test").await?;
//! storage.ping().await?;
//! # Ok(()) }
//! ```

mod box_reads;
mod box_store;
mod change_batches;
mod checkpoints;
pub mod entities;
mod fixtures;
mod identity_directory;
mod inbox;
pub mod migrations;
mod token_introspection;
mod update_groups;
mod update_log;

use std::sync::Arc;
use std::time::Duration;

pub use sea_orm;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait as _;

use crate::error::StoreError;

/// How long a request waits for a database connection before failing, unless configured.
pub const DEFAULT_DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a SQLite writer waits for another to finish before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Rows a SQLite connection's worker thread hands over before it waits for the task reading
/// them. sqlx's default (50) makes a query of a thousand rows (a box's members, the positions
/// of an event's recipients) switch threads dozens of times.
const SQLITE_ROW_BUFFER: usize = 4_096;

/// Bytes of bound values one PostgreSQL statement carries at most. sqlx 0.9.0 left Nagle's
/// algorithm on, and a statement whose message took more than one write of the connection
/// waited for the server's delayed acknowledgement, about 40 ms a statement (a fan-out's
/// statement log, 1,000 members, 10 messages/s: the log append in one statement of about
/// 130 kB, 65 ms at the median; in statements of 48 kB, 48 ms each; of 12 kB, 1.4 ms each).
/// sqlx 0.9.1 sets `TCP_NODELAY`; the limit stays, as one statement per table was no faster
/// (a fan-out to 2,000 members at 10 messages/s, alternated: p99 46.5 and 51.3 ms against 41.2
/// and 40.6 ms with the limit).
const POSTGRES_STATEMENT_BYTES: usize = 12 * 1024;

/// Bytes a bound value of `len` bytes takes in PostgreSQL's `Bind` message: its length and its
/// format code, then the value.
const fn postgres_wire_bytes(len: usize) -> usize {
    4 + 2 + len
}

/// The box tables on one SQLite or PostgreSQL database. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct SeaOrmStorage {
    db: DatabaseConnection,
    /// On SQLite, this process's writers take turns here. SQLite lets one writer in at a time
    /// and makes the others poll, sleeping up to 100 ms between tries, so under load the lock
    /// sits free while they sleep; a queue hands it over at once. Other processes on the same
    /// file still meet the busy timeout. `None` on PostgreSQL, which locks rows, not the file.
    write_turns: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Change sets waiting to be written together (see `change_batches`).
    batches: Arc<change_batches::ChangeBatches>,
    /// On a SQLite file, what was committed since the last checkpoint (see `checkpoints`).
    checkpoints: Option<Arc<checkpoints::Checkpoints>>,
}

impl SeaOrmStorage {
    /// Connects to `url` (`sqlite://path.db`, `sqlite::memory:`, `postgres://...`), creating a
    /// SQLite file if missing, and runs the migrations. A request waits at most
    /// [`DEFAULT_DATABASE_TIMEOUT`] for a connection (see [`connect_with_timeout`](Self::connect_with_timeout)).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, DEFAULT_DATABASE_TIMEOUT).await
    }

    /// [`connect`](Self::connect), waiting at most `timeout` for a connection of the pool (or a
    /// new one) before failing with [`StoreError::Unavailable`]: while the database is down,
    /// requests answer 503 within about that time instead of the pool's default 30 s.
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new(url);
        options.acquire_timeout(timeout).connect_timeout(timeout);
        Self::connect_with(options).await
    }

    /// [`connect`](Self::connect) with pool settings of your own (size, timeouts, PostgreSQL
    /// `search_path`...). SQLite connections always get write-ahead logging, `synchronous =
    /// NORMAL` and a busy timeout, so that concurrent writers queue instead of failing.
    pub async fn connect_with(mut options: ConnectOptions) -> Result<Self, StoreError> {
        let in_memory =
            options.get_url().contains(":memory:") || options.get_url().contains("mode=memory");
        if in_memory {
            // Every connection to `:memory:` is a database of its own: keep exactly one.
            options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        options
            .sqlx_logging_level(tracing::log::LevelFilter::Debug)
            .map_sqlx_sqlite_opts(move |sqlite| {
                let sqlite = sqlite
                    .create_if_missing(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .row_buffer_size(SQLITE_ROW_BUFFER)
                    .foreign_keys(true);
                if in_memory {
                    sqlite
                } else {
                    sqlite
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        // An event reaching a thousand members touches a thousand pages of
                        // the log's index: a page cache that holds them (32 MiB, not the
                        // default 2 MiB).
                        .pragma("cache_size", "-32768")
                        // Checkpoints after the writers' turn (see `checkpoints`); SQLite's
                        // own, in a writer's turn, only as a backstop.
                        .pragma(
                            "wal_autocheckpoint",
                            checkpoints::SQLITE_AUTOCHECKPOINT_PAGES.to_string(),
                        )
                        // A statement that writes many rows keeps a copy of every page it
                        // changes, to undo itself alone: in memory, not in a temporary file
                        // opened, written and closed per statement.
                        .pragma("temp_store", "memory")
                }
            });
        let db = Database::connect(options).await.map_err(store_error)?;
        let sqlite = db.get_database_backend() == DbBackend::Sqlite;
        let write_turns = sqlite.then(|| Arc::new(tokio::sync::Mutex::new(())));
        let checkpoints = (sqlite && !in_memory).then(Default::default);
        let storage = Self {
            db,
            write_turns,
            checkpoints,
            batches: Arc::new(change_batches::ChangeBatches::new(if sqlite {
                1
            } else {
                change_batches::POSTGRES_WRITERS
            })),
        };
        storage.migrate().await?;
        Ok(storage)
    }

    /// Applies the migrations not applied yet. On PostgreSQL they run in one transaction under
    /// an advisory lock keyed by the schema, so that instances starting together against one
    /// database take turns instead of racing (and a failed migration leaves nothing behind).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(store_error)?;
        if self.db.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared("SELECT pg_advisory_xact_lock(hashtext('misakey-box migrations ' || current_schema()))")
                .await
                .map_err(store_error)?;
        }
        migrations::Migrator::up(&txn, None)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }

    /// Waits for this process's turn to write (SQLite only; see `write_turns`).
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_turns {
            Some(turns) => Some(turns.lock().await),
            None => None,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(store_error)
    }

    /// The sea-orm connection, to query the same tables (see [`entities`]).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await.map_err(store_error)
    }
}

/// Sorts a database error into "cannot reach the database" and "anything else".
pub(crate) fn store_error(error: DbErr) -> StoreError {
    let unreachable = match &error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(cause)) | DbErr::Query(RuntimeErr::SqlxError(cause)) => {
            is_connection_failure(cause)
        }
        _ => false,
    };
    if unreachable {
        StoreError::unavailable(error)
    } else {
        StoreError::backend(error)
    }
}

/// Whether `error` is PostgreSQL giving up one transaction for another's sake: chosen as a
/// deadlock's victim (40P01) or refused by serialization (40001). Nothing of it was written,
/// and the same transaction written again succeeds once the other one is done.
pub(crate) fn is_transient_conflict(error: &StoreError) -> bool {
    let StoreError::Backend(cause) = error else {
        return false;
    };
    let Some(
        DbErr::Exec(RuntimeErr::SqlxError(cause)) | DbErr::Query(RuntimeErr::SqlxError(cause)),
    ) = cause.downcast_ref::<DbErr>()
    else {
        return false;
    };
    matches!(&**cause, sea_orm::sqlx::Error::Database(database)
        if database.code().is_some_and(|code| code == "40P01" || code == "40001"))
}

fn is_connection_failure(error: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match error {
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        // PostgreSQL class 08 (connection exception) and 57P0x (server shutting down).
        Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

/// A stored value the domain cannot read (a type name this version does not know...).
fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::backend(what.into())
}

/// `rows` parenthesised rows of `columns` placeholders each, for a multi-row `VALUES` list:
/// `(?, ?), (?, ?)` on SQLite, `($1, $2), ($3, $4)` on PostgreSQL. Large statements are
/// written out this way rather than built with sea-query, whose models and expression trees
/// cost more than the write for the thousands of values of a box event.
fn placeholder_rows(backend: DbBackend, rows: usize, columns: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                DbBackend::Postgres => {
                    let _ = write!(sql, "${}", row * columns + column + 1);
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

/// The `n`th placeholder (from 1) of a statement written out: `?` on SQLite, `$n` on
/// PostgreSQL.
fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// Runs a statement written out (see `placeholder_rows`) with `values` bound; returns how many
/// rows it changed.
async fn execute_written_out(
    db: &impl ConnectionTrait,
    sql: String,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Result<u64, StoreError> {
    let backend = db.get_database_backend();
    Ok(db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await
        .map_err(store_error)?
        .rows_affected())
}

/// Runs a query written out with `values` bound; returns its rows.
async fn query_written_out(
    db: &impl ConnectionTrait,
    sql: String,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Result<Vec<sea_orm::QueryResult>, StoreError> {
    let backend = db.get_database_backend();
    db.query_all_raw(sea_orm::Statement::from_sql_and_values(
        backend, sql, values,
    ))
    .await
    .map_err(store_error)
}
