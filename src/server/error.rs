//! What every handler answers when it fails: `{error, code}`, `code` being
//! the exit code the command line gives, and the extractors that refuse
//! bad input the same way.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::actors::Refused;
use crate::events::{StoreError, StreamId};
use crate::exit::Exit;

/// What every error answers.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    error: String,
    /// The exit code it means (0 success, 1 error, 2 bad input, 3 rolled back,
    /// 4 returned, 5 log integrity, 6 refused).
    code: i32,
}

/// An error as the CLI reads it: a message and the exit code it means.
pub struct ApiError {
    status: StatusCode,
    message: String,
    code: Exit,
    extra: Value,
}

impl ApiError {
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, Exit::Error, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, Exit::Error, message)
    }

    pub fn new(status: StatusCode, code: Exit, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code,
            extra: Value::Null,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message, "code": self.code as i32 });
        if let Value::Object(extra) = self.extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = if e.is_corruption() {
            Exit::Integrity
        } else {
            Exit::Error
        };
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, e.to_string())
    }
}

impl From<crate::projections::runner::ProjectionError> for ApiError {
    fn from(e: crate::projections::runner::ProjectionError) -> Self {
        match e {
            crate::projections::runner::ProjectionError::Store(e) => e.into(),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Exit::Error,
                other.to_string(),
            ),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, Exit::BadInput, e.body_text())
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match &refused {
            Refused::Invalid(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, Exit::BadInput, m.clone())
            }
            Refused::Locked { holder, .. } => ApiError {
                status: StatusCode::CONFLICT,
                message: refused.to_string(),
                code: Exit::Refused,
                extra: json!({ "holder": holder }),
            },
            Refused::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, Exit::Error, m.clone()),
            Refused::Failed(m) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, Exit::Error, m.clone())
            }
            // A request that names nothing possible is bad input; any
            // other refusal is a conflict with the deployment's state. Said
            // as the flow says it.
            Refused::Flow(refusal @ crate::flow::Refusal::NothingToRollBackTo) => {
                ApiError::new(StatusCode::BAD_REQUEST, Exit::BadInput, refusal.to_string())
            }
            Refused::Flow(refusal) => {
                ApiError::new(StatusCode::CONFLICT, Exit::Error, refusal.to_string())
            }
        }
    }
}

/// A query string read like `Query`, refused like every other bad input:
/// a JSON `{error, code}` with status 400 and exit code 2, not axum's text.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(query)| ApiQuery(query))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, Exit::BadInput, e.body_text()))
    }
}

impl From<crate::projections::ids::IdError> for ApiError {
    fn from(error: crate::projections::ids::IdError) -> ApiError {
        use crate::projections::ids::IdError;
        let status = match error {
            IdError::NoneMatch(_) | IdError::NoneYet => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        let exit = if status == StatusCode::NOT_FOUND {
            Exit::Error
        } else {
            Exit::BadInput
        };
        ApiError::new(status, exit, error.to_string())
    }
}

/// The answer for an id the log does not hold.
pub fn not_found(id: StreamId) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Exit::Error,
        format!("no deployment {id}"),
    )
}
