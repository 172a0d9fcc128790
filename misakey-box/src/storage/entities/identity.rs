use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub identifier_value: String,
    pub identifier_kind: String,
    pub account_id: Option<Uuid>,
    pub pubkey: Option<String>,
    pub non_identified_pubkey: Option<String>,
    pub pubkey_aes_rsa: Option<String>,
    pub non_identified_pubkey_aes_rsa: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
