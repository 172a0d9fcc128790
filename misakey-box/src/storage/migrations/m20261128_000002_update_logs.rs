//! The per-identity update logs (the outbox): positions, and the kept updates.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(DeriveIden)]
enum IdentityPositions {
    Table,
    IdentityId,
    Latest,
}

#[derive(DeriveIden)]
enum IdentityUpdates {
    Table,
    IdentityId,
    Seq,
    Type,
    Object,
    CreatedAt,
    Published,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdentityPositions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(IdentityPositions::IdentityId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(IdentityPositions::Latest)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdentityUpdates::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(IdentityUpdates::IdentityId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdentityUpdates::Seq)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(IdentityUpdates::Type).text().not_null())
                    .col(ColumnDef::new(IdentityUpdates::Object).text().not_null())
                    .col(
                        ColumnDef::new(IdentityUpdates::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdentityUpdates::Published)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .primary_key(
                        Index::create()
                            .col(IdentityUpdates::IdentityId)
                            .col(IdentityUpdates::Seq),
                    )
                    .to_owned(),
            )
            .await?;
        // What the relay of stranded updates reads.
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(IdentityUpdates::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(IdentityPositions::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
