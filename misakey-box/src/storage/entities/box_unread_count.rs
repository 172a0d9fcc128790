use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "box_unread_counts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub identity_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub box_id: Uuid,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
