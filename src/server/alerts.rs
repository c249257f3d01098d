//! `POST /api/apps/{app}/alerts`: Alertmanager's webhook, recorded on the
//! deployment of the app's live release as `alert_received`; with
//! `rollout.rollback_on_alert`, a firing alert soon enough after the
//! switch rolls the release back (the flow's `decide` says when).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::ask;
use super::error::{ApiError, ErrorBody};
use super::state::Shared;
use crate::actors::SupervisorMsg;
use crate::events::payloads::{Alert, AlertReceived};
use crate::exit::Exit;
use crate::flow::Input;

pub fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(alerts))
}

/// Alertmanager's webhook payload (version 4); what deployflow reads of it.
#[derive(Deserialize, ToSchema)]
struct Webhook {
    status: String,
    #[serde(default)]
    alerts: Vec<AlertmanagerAlert>,
}

#[derive(Deserialize, ToSchema)]
struct AlertmanagerAlert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    fingerprint: String,
}

/// At most this many alerts of a group are recorded.
const MAX_ALERTS: usize = 100;
/// Longest name, summary or status kept.
const MAX_TEXT: usize = 1_000;

fn cut(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

/// Records an Alertmanager notification on the app's live deployment.
#[utoipa::path(post, path = "/api/apps/{app}/alerts", tag = "apps",
    params(("app" = String, Path, description = "app name")), request_body = Webhook,
    responses((status = 200, description = "`{id, from_version}`", body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "nothing of the app is live", body = ErrorBody)))]
async fn alerts(
    State(shared): State<Shared>,
    Path(app): Path<String>,
    body: Result<Json<Webhook>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(webhook) = body?;
    if !matches!(webhook.status.as_str(), "firing" | "resolved") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Exit::BadInput,
            format!("`status` is `{}`: firing or resolved", cut(&webhook.status)),
        ));
    }
    shared.caught_up().await?;
    let since_switch_ms = {
        let model = shared.model.read();
        let current = model.app(&app).and_then(|state| {
            state
                .active
                .or_else(|| state.live.as_ref().and_then(|live| live.deployment_id()))
        });
        current
            .and_then(|id| model.record(id))
            .and_then(|record| record.went_live_at)
            .map(|live| (chrono::Utc::now() - live).num_milliseconds().max(0) as u64)
    };
    let alert = AlertReceived {
        status: webhook.status,
        alerts: webhook
            .alerts
            .iter()
            .take(MAX_ALERTS)
            .map(|a| Alert {
                name: cut(a.labels.get("alertname").map_or("unnamed", String::as_str)),
                status: cut(&a.status),
                summary: cut(a
                    .annotations
                    .get("summary")
                    .or_else(|| a.annotations.get("description"))
                    .map_or("", String::as_str)),
                fingerprint: cut(&a.fingerprint),
            })
            .collect(),
        since_switch_ms,
    };
    let input = Input::Alert(alert);
    let (id, from_version) = ask(&shared, |reply| SupervisorMsg::ForApp {
        app,
        input,
        to: None,
        reply,
    })
    .await??;
    Ok(Json(json!({ "id": id, "from_version": from_version })))
}
