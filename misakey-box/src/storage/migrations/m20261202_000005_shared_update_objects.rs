//! An update that reaches many identities at once (an event in a box of a thousand members)
//! keeps its object once, in `shared_update_objects`, and each recipient's log entry refers to
//! it: copying the object into every entry wrote about 500 bytes per member and per message.
//! Entries written before keep their object inline (`shared_object_id` null).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(DeriveIden)]
enum SharedUpdateObjects {
    Table,
    Id,
    Object,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdentityUpdates {
    Table,
    SharedObjectId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SharedUpdateObjects::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SharedUpdateObjects::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SharedUpdateObjects::Object)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SharedUpdateObjects::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Pruned by age, like the entries that refer to them.
        manager
            .create_index(
                Index::create()
                    .name("shared_update_objects_created_at")
                    .table(SharedUpdateObjects::Table)
                    .col(SharedUpdateObjects::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IdentityUpdates::Table)
                    .add_column(
                        ColumnDef::new(IdentityUpdates::SharedObjectId)
                            .uuid()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IdentityUpdates::Table)
                    .drop_column(IdentityUpdates::SharedObjectId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(SharedUpdateObjects::Table).to_owned())
            .await
    }
}
