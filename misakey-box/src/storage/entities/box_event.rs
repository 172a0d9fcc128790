use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "box_events")]
pub struct Model {
    /// Insertion order: events of one contact share their timestamp.
    #[sea_orm(primary_key)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub id: Uuid,
    pub box_id: Uuid,
    pub r#type: String,
    /// JSON text.
    pub content: String,
    pub sender_id: Uuid,
    pub created_at: DateTimeUtc,
    pub referrer_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
