use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "group_updates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: Uuid,
    /// 1, 2, 3... within the group, in commit order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub ord: i64,
    pub r#type: String,
    /// JSON text.
    pub object: String,
    /// The position each member got, 8 bytes big-endian per slot.
    pub positions: Vec<u8>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
