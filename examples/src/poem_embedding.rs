//! An existing poem application that mounts the misakey-box routes under `/api`, beside its
//! own routes and middleware.

use misakey_box::http::HttpApi;
use misakey_box_poem::routes;
use poem::endpoint::BoxEndpoint;
use poem::middleware::SetHeader;
use poem::web::Json;
use poem::{EndpointExt as _, Response, Route, get, handler};

/// The application's own route.
#[handler]
fn about() -> Json<serde_json::Value> {
    Json(serde_json::json!({"app": "my-app", "boxes": "/api"}))
}

/// The application: its `/about`, the box routes under `/api`, and its own middleware (a
/// header on every response, the box routes' included).
pub fn app(api: HttpApi) -> BoxEndpoint<'static, Response> {
    Route::new()
        .at("/about", get(about))
        .nest("/api", routes(api))
        .with(SetHeader::new().overriding("x-served-by", "my-app"))
        .map_to_response()
        .boxed()
}
