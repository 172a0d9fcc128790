use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "update_groups")]
pub struct Model {
    /// Derived from the members (a name-based UUID of their list).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The members' ids, 16 bytes each, sorted: slot `n` is bytes `16 n .. 16 n + 16`.
    pub members: Vec<u8>,
    /// When an update last went to the group; a group unused for longer than the retention goes.
    pub last_used_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
