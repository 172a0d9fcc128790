use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_publishers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub publisher_id: Uuid,
    /// Every update this instance committed with an earlier `created_at` is published.
    pub published_before: DateTimeUtc,
    pub heartbeat_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
