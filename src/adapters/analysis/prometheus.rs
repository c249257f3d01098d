//! `prometheus`: an instant query (`/api/v1/query`) with the target's names
//! substituted. A scalar, or a vector of one sample, is a number; a vector
//! of several is a list; an empty vector is an error measurement (Flagger's
//! "no values found": an idle app has none).

use std::time::Duration;

use serde::Deserialize;

use super::{MAX_ANSWER, Target, number};
use crate::adapters::http::read_json;
use crate::config::Metric;

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Scalar((f64, String)),
    Vector(Vec<Sample>),
    /// Range queries' answer: not a measurement of now.
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Sample {
    value: (f64, String),
}

pub async fn read(
    metric: &Metric,
    target: &Target,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let address = target.substitute(metric.address.as_deref().unwrap_or_default());
    let query = target.substitute(metric.query.as_deref().unwrap_or_default());
    let base = format!("{}/api/v1/query", address.trim_end_matches('/'));
    let url = reqwest::Url::parse_with_params(&base, &[("query", query.as_str())])
        .map_err(|e| format!("prometheus address `{address}`: {e}"))?;
    let response = super::get(url, timeout)?.send().await.map_err(|e| {
        format!(
            "prometheus at {address}: {}",
            crate::adapters::health::error_chain(&e)
        )
    })?;
    let status = response.status();
    let answer: Answer = read_json(response, MAX_ANSWER)
        .await
        .map_err(|e| format!("prometheus at {address} ({status}): {e}"))?;
    if answer.status != "success" {
        return Err(format!(
            "prometheus refused `{query}`: {}",
            answer.error.unwrap_or(answer.status)
        ));
    }
    match answer.data {
        Some(Data::Scalar((_, value))) => parse(&value),
        Some(Data::Vector(samples)) => match samples.as_slice() {
            [] => Err(format!("no values found for `{query}`")),
            [one] => parse(&one.value.1),
            many => many
                .iter()
                .map(|s| parse(&s.value.1))
                .collect::<Result<Vec<_>, _>>()
                .map(serde_json::Value::Array),
        },
        Some(Data::Matrix(_)) | Some(Data::String(_)) => {
            Err(format!("`{query}` is not an instant vector or a scalar"))
        }
        None => Err("prometheus answered no data".into()),
    }
}

/// Prometheus sends sample values as strings ("0.98", "NaN", "+Inf").
fn parse(value: &str) -> Result<serde_json::Value, String> {
    let parsed: f64 = value
        .parse()
        .map_err(|_| format!("`{value}` is not a sample value"))?;
    number(parsed)
}
