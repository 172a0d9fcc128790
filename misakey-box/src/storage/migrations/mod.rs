//! Schema migrations, as code. They run at start ([`super::SeaOrmStorage::connect`]); applied
//! ones are recorded in `seaql_migrations`, so running them again does nothing.

use sea_orm_migration::prelude::*;

mod m20261128_000001_initial;
mod m20261128_000002_update_logs;
mod m20261128_000003_publisher_checkpoints;
mod m20261202_000004_box_members;
mod m20261202_000005_shared_update_objects;
mod m20261203_000006_update_groups;
mod m20261203_000007_unread_marks;

/// The migrations of the box tables, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_initial::Migration),
            Box::new(m20261128_000002_update_logs::Migration),
            Box::new(m20261128_000003_publisher_checkpoints::Migration),
            Box::new(m20261202_000004_box_members::Migration),
            Box::new(m20261202_000005_shared_update_objects::Migration),
            Box::new(m20261203_000006_update_groups::Migration),
            Box::new(m20261203_000007_unread_marks::Migration),
        ]
    }
}
