//! Fresh databases for tests of the sea-orm storage (feature `sea-orm`).
//!
//! Each [`TestDatabase`] is its own SQLite file or its own PostgreSQL schema, so tests run in
//! parallel, and it is removed when dropped, even by a failing test.

use std::ops::Deref;
use std::path::PathBuf;

use misakey_box::storage::SeaOrmStorage;
use misakey_box::storage::sea_orm::{ConnectOptions, ConnectionTrait as _, Database};
use uuid::Uuid;

/// The environment variable naming the PostgreSQL server tests use
/// (`postgres://postgres@127.0.0.1:5432/test` on this project's machines).
pub const DATABASE_URL_VAR: &str = "MISAKEY_BOX_TEST_DATABASE_URL";

/// A migrated [`SeaOrmStorage`] on a database of its own; dereferences to the storage.
#[derive(Debug)]
pub struct TestDatabase {
    storage: SeaOrmStorage,
    place: Place,
}

#[derive(Debug, Clone)]
enum Place {
    SqliteFile(PathBuf),
    PostgresSchema { server_url: String, schema: String },
}

/// The PostgreSQL server to test against: `None` (tests skip) when [`DATABASE_URL_VAR`] is
/// unset, except under `CI=true`, where a missing server is a failure, never a skip.
pub fn postgres_url() -> Option<String> {
    crate::services::service_url(DATABASE_URL_VAR)
}

impl TestDatabase {
    /// A fresh SQLite file in the temporary directory.
    pub async fn sqlite() -> Self {
        let path =
            std::env::temp_dir().join(format!("misakey-box-test-{}.db", Uuid::new_v4().simple()));
        let place = Place::SqliteFile(path);
        let storage = place.connect().await;
        Self { storage, place }
    }

    /// A fresh schema on the PostgreSQL server of [`postgres_url`], or `None` to skip.
    pub async fn postgres() -> Option<Self> {
        let server_url = postgres_url()?;
        let schema = format!("misakey_box_test_{}", Uuid::new_v4().simple());
        let admin = Database::connect(&server_url)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot connect to {DATABASE_URL_VAR}={server_url}: {error}")
            });
        admin
            .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
            .await
            .unwrap_or_else(|error| panic!("cannot create schema {schema}: {error}"));
        admin.close().await.ok();
        let place = Place::PostgresSchema { server_url, schema };
        let storage = place.connect().await;
        Some(Self { storage, place })
    }

    /// A second, independent connection pool on the same database, migrated again: what a
    /// restarted or second server instance gets.
    pub async fn reopen(&self) -> SeaOrmStorage {
        self.place.connect().await
    }

    /// A [`SeaOrmStorage::connect_with`] result on the same database, for tests of connection
    /// handling itself (concurrent migrations...).
    pub async fn try_reopen(&self) -> Result<SeaOrmStorage, misakey_box::error::StoreError> {
        SeaOrmStorage::connect_with(self.place.options()).await
    }
}

impl Place {
    fn options(&self) -> ConnectOptions {
        match self {
            Place::SqliteFile(path) => ConnectOptions::new(format!("sqlite://{}", path.display())),
            Place::PostgresSchema { server_url, schema } => {
                let mut options = ConnectOptions::new(server_url.clone());
                options
                    .set_schema_search_path(schema.clone())
                    .max_connections(8);
                options
            }
        }
    }

    async fn connect(&self) -> SeaOrmStorage {
        SeaOrmStorage::connect_with(self.options())
            .await
            .unwrap_or_else(|error| panic!("cannot open the test database {self:?}: {error:?}"))
    }

    /// Removes the database. Runs on a thread of its own with its own runtime, because `Drop`
    /// cannot await and may run inside (or outside) a test's runtime.
    fn remove(&self) {
        match self {
            Place::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Place::PostgresSchema { server_url, schema } => {
                let (server_url, schema) = (server_url.clone(), schema.clone());
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async {
                        let admin = Database::connect(&server_url).await?;
                        admin
                            .execute_unprepared(&format!(
                                "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                            ))
                            .await?;
                        admin.close().await
                    })?;
                    Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("warning: could not drop test schema: {dropped:?}");
                }
            }
        }
    }
}

impl Deref for TestDatabase {
    type Target = SeaOrmStorage;

    fn deref(&self) -> &SeaOrmStorage {
        &self.storage
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        self.place.remove();
    }
}
