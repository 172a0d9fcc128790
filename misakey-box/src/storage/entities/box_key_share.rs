use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "box_key_shares")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub other_share_hash: String,
    pub misakey_share: String,
    pub encrypted_invitation_key_share: String,
    pub box_id: Uuid,
    pub creator_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
