//! `web`: GET `url`; `json_path` (RFC 9535 JSONPath) picks the result from
//! the JSON answer: one match is the result, several a list.

use std::time::Duration;

use serde_json_path::JsonPath;

use super::{MAX_ANSWER, Target};
use crate::adapters::http::read_json;
use crate::config::Metric;

pub async fn read(
    metric: &Metric,
    target: &Target,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let url = target.substitute(metric.url.as_deref().unwrap_or_default());
    let path_text = metric.json_path.as_deref().unwrap_or_default();
    let path = JsonPath::parse(path_text).map_err(|e| format!("json_path `{path_text}`: {e}"))?;
    let response = super::get(&url, timeout)?
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", crate::adapters::health::error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(format!("GET {url} answered {}", response.status()));
    }
    let answer: serde_json::Value = read_json(response, MAX_ANSWER)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    pick(&path, path_text, &answer)
}

/// What `path` matches in `answer`.
pub fn pick(
    path: &JsonPath,
    text: &str,
    answer: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let found: Vec<&serde_json::Value> = path.query(answer).all();
    match found.as_slice() {
        [] => Err(format!("json_path `{text}` matched nothing")),
        [one] => Ok((*one).clone()),
        many => Ok(serde_json::Value::Array(
            many.iter().map(|v| (*v).clone()).collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_path_picks_one_value_or_a_list_and_says_when_it_matched_nothing() {
        let answer = json!({"checks": {"errors": 0.02}, "nodes": [{"up": 1}, {"up": 0}]});
        let one = JsonPath::parse("$.checks.errors").unwrap();
        assert_eq!(pick(&one, "", &answer), Ok(json!(0.02)));
        let many = JsonPath::parse("$.nodes[*].up").unwrap();
        assert_eq!(pick(&many, "", &answer), Ok(json!([1, 0])));
        let none = JsonPath::parse("$.missing").unwrap();
        assert!(
            pick(&none, "$.missing", &answer)
                .unwrap_err()
                .contains("matched nothing")
        );
    }
}
