//! Box membership as rows: one per member, so that two joins of one identity racing collide on
//! the primary key (one succeeds, one conflicts), and membership checks are one lookup. Boxes
//! created before this migration get their creator as a member.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(DeriveIden)]
enum BoxMembers {
    Table,
    BoxId,
    IdentityId,
    JoinedAt,
    JoinEventId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BoxMembers::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(BoxMembers::BoxId).uuid().not_null())
                    .col(ColumnDef::new(BoxMembers::IdentityId).uuid().not_null())
                    .col(
                        ColumnDef::new(BoxMembers::JoinedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(BoxMembers::JoinEventId).uuid().not_null())
                    .primary_key(
                        Index::create()
                            .col(BoxMembers::BoxId)
                            .col(BoxMembers::IdentityId),
                    )
                    .to_owned(),
            )
            .await?;
        // The boxes an identity belongs to.
        manager
            .create_index(
                Index::create()
                    .name("box_members_identity")
                    .table(BoxMembers::Table)
                    .col(BoxMembers::IdentityId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // Every box so far was made by a contact: its creator is its only member.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO box_members (box_id, identity_id, joined_at, join_event_id) \
                 SELECT box_id, sender_id, created_at, id FROM box_events WHERE type = 'create'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(BoxMembers::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
