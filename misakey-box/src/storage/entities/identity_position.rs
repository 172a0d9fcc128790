use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_positions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub identity_id: Uuid,
    /// The last position assigned in the identity's log.
    pub latest: i64,
    /// Positions at or before it were pruned for the identity's count (see the migration of
    /// update groups): none is read again.
    pub pruned_through: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
