//! Words people read, one way everywhere (the command line, the report,
//! the dashboard): durations as `1.2 s`, `42 s`, `3 min 5 s`.

/// `ms` as a person reads a duration: a tenth of a second under 10 s,
/// whole seconds under a minute, then minutes (and hours) with seconds.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..10_000 => format!("{:.1} s", ms as f64 / 1000.0),
        10_000..60_000 => format!("{} s", ms / 1000),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{} h {} min", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_as_seconds_then_minutes_then_hours() {
        assert_eq!(duration(1234), "1.2 s");
        assert_eq!(duration(0), "0.0 s");
        assert_eq!(duration(-5), "0.0 s");
        assert_eq!(duration(42_600), "42 s");
        assert_eq!(duration(185_000), "3 min 5 s");
        assert_eq!(duration(3_780_000), "1 h 3 min");
    }
}
