//! `POST /box-users/{id}/contact`.

use std::sync::Arc;

use misakey_box::web::{body_too_large, check_json_content_type, parse_json_body, unreadable_body};
use poem::error::ReadBodyError;
use poem::http::{StatusCode, header};
use poem::web::{Data, Json, Path};
use poem::{Body, IntoResponse, Request, Response, handler};

use crate::AppState;
use crate::auth::{authorize, check_csrf};
use crate::error::ApiError;

/// Checks in the order of DESIGN.md section 3 (token, ACR, path, identity, CSRF, body), then
/// runs the contact use case; 201 with the box view.
#[handler]
pub(crate) async fn contact(
    req: &Request,
    Path(id): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Result<Response, ApiError> {
    let caller = authorize(state, req, &id).await?;
    check_csrf(req)?;
    check_json_content_type(
        req.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok()),
    )?;
    let limit = state.settings.max_body_bytes;
    let bytes = body
        .into_bytes_limit(limit)
        .await
        .map_err(|error| match error {
            ReadBodyError::PayloadTooLarge => body_too_large(limit),
            other => unreadable_body(other),
        })?;
    let created = state
        .service
        .contact(&caller, &parse_json_body(&bytes)?)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}
