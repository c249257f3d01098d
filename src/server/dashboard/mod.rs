//! The dashboard `serve` serves: server-rendered HTML (maud), charts as SVG
//! drawn in Rust (`charts.rs`), and one small script that keeps a page live
//! through the event stream and sends its forms (`assets.rs`). No build
//! step, nothing fetched from elsewhere.

mod assets;
mod charts;
mod deployment;
mod overview;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::auth;
use super::error::ApiError;
use super::state::Shared;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(overview_page))
        .route("/dashboard/overview", get(overview_part))
        .route("/deployments/{id}", get(deployment_page))
        .route("/deployments/{id}/live", get(deployment_part))
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/assets/dashboard.css", get(css))
        .route("/assets/dashboard.js", get(js))
}

fn page(title: &str, live: Markup, refresh: &str, stream: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · deployflow" }
                link rel="stylesheet" href="/assets/dashboard.css";
            }
            body {
                header { a href="/" { "deployflow" } span { (title) } }
                main {
                    div #live data-refresh=(refresh) data-stream=(stream) { (live) }
                }
                script src="/assets/dashboard.js" {}
            }
        }
    }
}

async fn overview_data(shared: &Shared) -> Result<overview::Overview, ApiError> {
    shared.caught_up().await?;
    let apps = super::queries::status(&shared.model, None);
    let metrics = super::queries::metrics(&shared.model, None, None);
    let rows = super::queries::history(&shared.model, None, overview::LISTED);
    let records = shared.model.read().records().to_vec();
    Ok(overview::Overview {
        apps,
        metrics,
        rows,
        records,
    })
}

async fn overview_page(State(shared): State<Shared>) -> Result<Markup, ApiError> {
    let data = overview_data(&shared).await?;
    let head = shared.store.head().next_seq;
    Ok(page(
        "overview",
        overview::render(&data),
        "/dashboard/overview",
        &format!("/api/events?from={head}"),
    ))
}

async fn overview_part(State(shared): State<Shared>) -> Result<Markup, ApiError> {
    Ok(overview::render(&overview_data(&shared).await?))
}

async fn deployment_events(
    shared: &Shared,
    id: &str,
) -> Result<(String, Vec<crate::events::Envelope>), ApiError> {
    let id = shared.resolve(id).await?;
    let events = shared
        .read(move |store| Ok(store.read_stream(id, 0)?))
        .await?;
    if events.is_empty() {
        return Err(ApiError::not_found(format!("no deployment {id}")));
    }
    Ok((id.to_string(), events))
}

async fn deployment_page(
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Markup, ApiError> {
    let (id, events) = deployment_events(&shared, &id).await?;
    let next = events.last().map_or(0, |e| e.seq + 1);
    Ok(page(
        &format!("deployment {}", id.get(..8).unwrap_or(&id)),
        deployment::render(&id, &events),
        &format!("/deployments/{id}/live"),
        &format!("/api/events?stream={id}&from={next}"),
    ))
}

async fn deployment_part(
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Markup, ApiError> {
    let (id, events) = deployment_events(&shared, &id).await?;
    Ok(deployment::render(&id, &events))
}

async fn login_page() -> Markup {
    login_form(None)
}

fn login_form(error: Option<&str>) -> Markup {
    page(
        "sign in",
        html! {
            section {
                h2 { "Sign in" }
                p { "This control plane asks for its token (" code { (auth::TOKEN_ENV) } ")." }
                form method="post" action="/login" {
                    input type="password" name="token" autocomplete="current-password" required;
                    " " button type="submit" { "sign in" }
                }
                @if let Some(error) = error { p.major_flaw { (error) } }
            }
        },
        "",
        "",
    )
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

/// The token checked like the API checks it; right, the browser gets a
/// session cookie (a keyed hash of the token, never the token) that it
/// sends only to this site (`SameSite=Strict`), out of scripts' reach
/// (`HttpOnly`), and only over TLS when it came over TLS (`Secure`).
/// Attempts are rate limited per client address.
async fn login(
    State(shared): State<Shared>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    if !shared.auth.required() {
        // Nothing to sign in to: no cookie, whatever was sent.
        return Redirect::to("/").into_response();
    }
    // Before the body is read: a client past its attempts costs nothing.
    if let Err(wait) = shared.auth.login_allowed(client.ip()) {
        let seconds = wait.as_secs().max(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, seconds.to_string())],
            login_form(Some(&format!(
                "Too many attempts: try again in {seconds} s."
            ))),
        )
            .into_response();
    }
    let headers = request.headers().clone();
    let login = <Form<Login> as axum::extract::FromRequest<()>>::from_request(request, &()).await;
    let token = match &login {
        Ok(Form(login)) if auth::token_problem(&login.token).is_none() => &login.token,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                login_form(Some(
                    "That is not a token: printable ASCII, without spaces or `;`.",
                )),
            )
                .into_response();
        }
    };
    let session = match shared.auth.session() {
        Some(session) if shared.auth.accepts_token(token) => session,
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                login_form(Some("That is not the token.")),
            )
                .into_response();
        }
    };
    let secure = if auth::came_over_tls(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={session}; Path=/; HttpOnly; SameSite=Strict{secure}",
        auth::COOKIE,
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// Signs every browser out: the sessions' key is replaced, so no cookie
/// issued before passes (the token itself still does, for programs).
async fn logout(State(shared): State<Shared>) -> Response {
    if let Err(e) = shared.auth.revoke_sessions() {
        return ApiError::internal(e.to_string()).into_response();
    }
    let cookie = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        auth::COOKIE
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        assets::CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        assets::JS,
    )
}
