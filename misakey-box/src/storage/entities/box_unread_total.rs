use sea_orm::entity::prelude::*;

/// How many of a box's events count as unread for its members (see `box_member::read_mark`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "box_unread_totals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub box_id: Uuid,
    pub events: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
