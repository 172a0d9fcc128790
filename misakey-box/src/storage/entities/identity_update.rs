use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_updates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub identity_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub r#type: String,
    /// JSON text; empty when the object is shared (`shared_object_id`).
    pub object: String,
    pub created_at: DateTimeUtc,
    /// The `shared_update_objects` row holding the object, for an update that reached several
    /// identities at once.
    pub shared_object_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
