//! An update that reaches a group of identities at once (an event to every member of a box)
//! is kept once for the group instead of once per recipient: a log entry per recipient was
//! 85% of a box message's write and 95% of its bytes at 1,000 members, each entry landing on
//! a page of its own in the recipient-ordered log.
//!
//! - `update_groups`: one row per distinct set of recipients (its id derived from the set),
//!   listing them sorted;
//! - `update_group_members`: which groups an identity is in, and its slot in each, so that a
//!   replay finds the group updates of one identity;
//! - `group_updates`: the updates of a group in order, each with the position every member got
//!   (8 bytes per slot);
//! - `identity_positions.pruned_through`: pruning by count can no longer delete an identity's
//!   part of a group update, so it moves this floor instead (nothing at or before it is read).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(DeriveIden)]
enum UpdateGroups {
    Table,
    Id,
    Members,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum UpdateGroupMembers {
    Table,
    IdentityId,
    GroupId,
    Slot,
}

#[derive(DeriveIden)]
enum GroupUpdates {
    Table,
    GroupId,
    Ord,
    Type,
    Object,
    Positions,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdentityPositions {
    Table,
    PrunedThrough,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UpdateGroups::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(UpdateGroups::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(UpdateGroups::Members).binary().not_null())
                    .col(
                        ColumnDef::new(UpdateGroups::LastUsedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Groups unused for longer than the retention go.
        manager
            .create_index(
                Index::create()
                    .name("update_groups_last_used_at")
                    .table(UpdateGroups::Table)
                    .col(UpdateGroups::LastUsedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UpdateGroupMembers::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(UpdateGroupMembers::IdentityId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpdateGroupMembers::GroupId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpdateGroupMembers::Slot)
                            .integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(UpdateGroupMembers::IdentityId)
                            .col(UpdateGroupMembers::GroupId),
                    )
                    .to_owned(),
            )
            .await?;
        // What a group's removal deletes by.
        manager
            .create_index(
                Index::create()
                    .name("update_group_members_group_id")
                    .table(UpdateGroupMembers::Table)
                    .col(UpdateGroupMembers::GroupId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GroupUpdates::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(GroupUpdates::GroupId).uuid().not_null())
                    .col(ColumnDef::new(GroupUpdates::Ord).big_integer().not_null())
                    .col(ColumnDef::new(GroupUpdates::Type).text().not_null())
                    .col(ColumnDef::new(GroupUpdates::Object).text().not_null())
                    .col(ColumnDef::new(GroupUpdates::Positions).binary().not_null())
                    .col(
                        ColumnDef::new(GroupUpdates::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(GroupUpdates::GroupId)
                            .col(GroupUpdates::Ord),
                    )
                    .to_owned(),
            )
            .await?;
        // What the relay reads and pruning by age deletes by.
        manager
            .create_index(
                Index::create()
                    .name("group_updates_created_at")
                    .table(GroupUpdates::Table)
                    .col(GroupUpdates::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IdentityPositions::Table)
                    .add_column(
                        ColumnDef::new(IdentityPositions::PrunedThrough)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IdentityPositions::Table)
                    .drop_column(IdentityPositions::PrunedThrough)
                    .to_owned(),
            )
            .await?;
        for table in [
            GroupUpdates::Table.into_iden(),
            UpdateGroupMembers::Table.into_iden(),
            UpdateGroups::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
