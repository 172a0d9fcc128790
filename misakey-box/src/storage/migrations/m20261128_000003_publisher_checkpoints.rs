//! Stranded updates are found from each publishing instance's checkpoint instead of a
//! per-entry "published" mark: the mark cost an indexed row update per update; a checkpoint
//! costs one row write per instance per beat.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(DeriveIden)]
enum IdentityUpdates {
    Table,
    CreatedAt,
    Published,
}

#[derive(DeriveIden)]
enum OutboxPublishers {
    Table,
    PublisherId,
    PublishedBefore,
    HeartbeatAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("identity_updates_unpublished")
                    .table(IdentityUpdates::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IdentityUpdates::Table)
                    .drop_column(IdentityUpdates::Published)
                    .to_owned(),
            )
            .await?;
        // What the relay reads (a window of creation times) and pruning by age deletes.
        manager
            .create_index(
                Index::create()
                    .name("identity_updates_created_at")
                    .table(IdentityUpdates::Table)
                    .col(IdentityUpdates::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxPublishers::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OutboxPublishers::PublisherId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OutboxPublishers::PublishedBefore)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxPublishers::HeartbeatAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(OutboxPublishers::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("identity_updates_created_at")
                    .table(IdentityUpdates::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IdentityUpdates::Table)
                    .add_column(
                        ColumnDef::new(IdentityUpdates::Published)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("identity_updates_unpublished")
                    .table(IdentityUpdates::Table)
                    .col(IdentityUpdates::Published)
                    .col(IdentityUpdates::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}
