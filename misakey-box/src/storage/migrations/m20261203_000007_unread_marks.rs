//! Unread counts as read marks: a box's event grew a count row per other member (999 upserts
//! for a message to a thousand members, 38% of its write on PostgreSQL); now it grows one
//! total per box, and the sender's own mark.
//!
//! - `box_unread_totals`: per box, how many of its events count as unread for its members;
//! - `box_members.read_mark`: the total when the member last read the box, plus the member's
//!   own events since. Its unread count is `total - read_mark`.
//!
//! The counts of members carry over (the box's total starts at its largest count); counts of
//! identities no longer members were not readable (always zero) and are dropped.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(DeriveIden)]
enum BoxUnreadTotals {
    Table,
    BoxId,
    Events,
}

#[derive(DeriveIden)]
enum BoxMembers {
    Table,
    ReadMark,
}

#[derive(DeriveIden)]
enum BoxUnreadCounts {
    Table,
    IdentityId,
    BoxId,
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BoxUnreadTotals::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(BoxUnreadTotals::BoxId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BoxUnreadTotals::Events)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BoxMembers::Table)
                    .add_column(
                        ColumnDef::new(BoxMembers::ReadMark)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO box_unread_totals (box_id, events) \
             SELECT box_id, MAX(count) FROM box_unread_counts GROUP BY box_id",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE box_members SET read_mark = COALESCE((SELECT t.events FROM box_unread_totals \
             AS t WHERE t.box_id = box_members.box_id), 0) - COALESCE((SELECT u.count FROM \
             box_unread_counts AS u WHERE u.box_id = box_members.box_id \
             AND u.identity_id = box_members.identity_id), 0)",
        )
        .await?;
        manager
            .drop_table(Table::drop().table(BoxUnreadCounts::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BoxUnreadCounts::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(BoxUnreadCounts::IdentityId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(BoxUnreadCounts::BoxId).uuid().not_null())
                    .col(
                        ColumnDef::new(BoxUnreadCounts::Count)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(BoxUnreadCounts::IdentityId)
                            .col(BoxUnreadCounts::BoxId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO box_unread_counts (identity_id, box_id, count) \
                 SELECT m.identity_id, m.box_id, t.events - m.read_mark FROM box_members AS m \
                 JOIN box_unread_totals AS t ON t.box_id = m.box_id WHERE t.events > m.read_mark",
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BoxMembers::Table)
                    .drop_column(BoxMembers::ReadMark)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(BoxUnreadTotals::Table).to_owned())
            .await
    }
}
