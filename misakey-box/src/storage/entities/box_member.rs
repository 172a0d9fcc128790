use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "box_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub box_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub identity_id: Uuid,
    pub joined_at: DateTimeUtc,
    /// The `member.join` event (the `create` event for the creator).
    pub join_event_id: Uuid,
    /// The box's unread total when the member last read it, plus its own events since: its
    /// unread count is the total minus this.
    pub read_mark: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
