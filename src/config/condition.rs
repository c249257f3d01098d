//! A CEL condition from the config (`success`, `failure`): checked when the
//! config loads, so a typo is an error with its key, line and column, and
//! evaluated against each measurement's `result` (and `baseline`).

use std::sync::Arc;

/// A condition's source; its program is compiled again where it is used
/// (compiling is microseconds, and the source is what the log's config
/// text holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    source: String,
}

/// Where a condition does not compile: 1-based line and column within the
/// expression, and what the parser said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Condition {
    pub fn parse(source: &str) -> Result<Condition, ConditionError> {
        compile(source)?;
        Ok(Condition {
            source: source.to_string(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// True or false for this measurement; an error when the expression
    /// does not give a boolean (a missing field, a type mismatch): such a
    /// measurement is an error, never a pass.
    pub fn holds(
        &self,
        result: &serde_json::Value,
        baseline: Option<&serde_json::Value>,
    ) -> Result<bool, String> {
        let program = compile(&self.source).map_err(|e| e.message)?;
        let mut context = cel::Context::default();
        context.add_variable_from_value("result", to_cel(result));
        context.add_variable_from_value("baseline", baseline.map_or(cel::Value::Null, to_cel));
        match program.execute(&context) {
            Ok(cel::Value::Bool(holds)) => Ok(holds),
            Ok(other) => Err(format!(
                "`{}` gave {other:?}, not true or false",
                self.source
            )),
            Err(e) => Err(format!("`{}`: {e}", self.source)),
        }
    }
}

fn compile(source: &str) -> Result<cel::Program, ConditionError> {
    if source.trim().is_empty() {
        return Err(ConditionError {
            line: 1,
            column: 1,
            message: "an empty condition: leave the key out instead".into(),
        });
    }
    cel::Program::compile(source).map_err(|errors| {
        let first = errors.errors.first();
        ConditionError {
            line: first.map_or(1, |e| usize::try_from(e.pos.0).unwrap_or(1).max(1)),
            column: first.map_or(1, |e| usize::try_from(e.pos.1).unwrap_or(0) + 1),
            message: first.map_or_else(|| errors.to_string(), |e| e.msg.clone()),
        }
    })
}

/// A measurement as CEL sees it. Every number is a double, so `result >=
/// 0.99` and `result > 20` both compare, whatever the provider parsed.
fn to_cel(value: &serde_json::Value) -> cel::Value {
    use serde_json::Value;
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let entries: std::collections::HashMap<String, cel::Value> =
                map.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            cel::Value::Map(entries.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_condition_compares_numbers_whatever_their_kind() {
        let condition = Condition::parse("result >= 0.99").unwrap();
        assert_eq!(condition.holds(&json!(1), None), Ok(true));
        assert_eq!(condition.holds(&json!(0.5), None), Ok(false));
        let count = Condition::parse("result > 20").unwrap();
        assert_eq!(count.holds(&json!(21.0), None), Ok(true));
    }

    #[test]
    fn a_comparison_reads_its_fields_and_the_baseline() {
        let condition =
            Condition::parse("result.p_value > 0.05 || result.ratio_p99 < 1.2").unwrap();
        assert_eq!(
            condition.holds(&json!({"p_value": 0.01, "ratio_p99": 1.1}), None),
            Ok(true)
        );
        let against = Condition::parse("result <= baseline * 1.5").unwrap();
        assert_eq!(against.holds(&json!(14), Some(&json!(10))), Ok(true));
        assert_eq!(against.holds(&json!(16), Some(&json!(10))), Ok(false));
    }

    #[test]
    fn what_is_not_a_boolean_is_an_error_not_a_pass() {
        let condition = Condition::parse("result + 1").unwrap();
        assert!(condition.holds(&json!(1), None).is_err());
        let missing = Condition::parse("result.nothing > 1").unwrap();
        assert!(missing.holds(&json!({"p": 1}), None).is_err());
    }

    #[test]
    fn a_bad_expression_says_where() {
        let error = Condition::parse("result >= ").unwrap_err();
        assert_eq!(error.line, 1);
        assert!(error.column > 1, "{error:?}");
        assert!(Condition::parse("  ").is_err());
    }
}
