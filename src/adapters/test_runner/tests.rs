use super::capture::Tail;
use super::*;

fn run_with(output: &str, failed: u32, exit_code: Option<i32>) -> TestRun {
    TestRun {
        passed: 3,
        failed,
        skipped: 0,
        duration_ms: 10,
        exit_code,
        output: output.to_string(),
        format: Some("tap".to_string()),
    }
}

#[test]
fn tail_keeps_the_last_lines() {
    let run = run_with("one\ntwo\nthree\nfour\n", 0, Some(0));
    assert_eq!(run.tail(2), "three\nfour\n");
    assert_eq!(run.tail(4), "one\ntwo\nthree\nfour\n");
    assert_eq!(run.tail(10), "one\ntwo\nthree\nfour\n");
    assert_eq!(run.tail(0), "");
}

#[test]
fn tail_without_a_final_newline() {
    let run = run_with("one\ntwo\nthree", 0, Some(0));
    assert_eq!(run.tail(1), "three");
    assert_eq!(run.tail(2), "two\nthree");
    assert_eq!(run_with("", 0, Some(0)).tail(3), "");
}

#[test]
fn passed_needs_no_failure_and_a_zero_exit() {
    assert!(run_with("", 0, Some(0)).passed());
    assert!(!run_with("", 1, Some(0)).passed());
    // The summary saw no failure, but a later step of the command failed.
    assert!(!run_with("", 0, Some(2)).passed());
    // Killed: whatever it printed, it did not finish.
    assert!(!run_with("", 0, None).passed());
}

#[test]
fn the_tail_buffer_keeps_the_end_within_its_cap() {
    let mut tail = Tail::new(10);
    for _ in 0..100 {
        tail.push(b"0123456789abc\n");
    }
    let text = tail.into_string();
    // The cut is marked, for the redactor.
    assert_eq!(text, "⟨cut⟩456789abc\n");
    let mut whole = Tail::new(10);
    whole.push(b"0123456789");
    assert_eq!(whole.into_string(), "0123456789");
}

#[test]
fn the_tail_buffer_cuts_on_a_character() {
    // 'é' is two bytes: a cap of 5 falls inside one.
    let mut tail = Tail::new(5);
    tail.push("aéééé".as_bytes());
    let text = tail.into_string();
    assert_eq!(text, "⟨cut⟩éé");
}

#[test]
fn the_tail_buffer_survives_invalid_bytes() {
    let mut tail = Tail::new(4);
    tail.push(&[0xff, 0xfe, 0xfd, 0xfc, 0xfb]);
    let text = tail.into_string();
    let text = text.strip_prefix("⟨cut⟩").unwrap_or(&text);
    // Each invalid byte widens to a replacement character.
    assert!(text.chars().count() <= 4, "{text:?}");
    assert!(text.chars().all(|c| c == char::REPLACEMENT_CHARACTER));
}
