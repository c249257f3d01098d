//! `deployflow verify`: every record's CRC and the hash chain, walked in order.

use std::path::Path;

use deployflow::events::{RawLog, VerifyReport, verify};

use super::Exit;

pub fn run(data_dir: &Path, json: bool) -> anyhow::Result<Exit> {
    if !RawLog::exists(data_dir) {
        anyhow::bail!("no event log in {}", data_dir.display());
    }
    let report = match RawLog::open(data_dir) {
        Ok(log) => verify(&log),
        Err(e) if e.is_corruption() => VerifyReport::unreadable(e.to_string()),
        Err(e) => return Err(e.into()),
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_for_people(&report);
    }
    Ok(if report.is_whole() {
        Exit::Success
    } else {
        Exit::Integrity
    })
}

fn print_for_people(report: &VerifyReport) {
    match &report.first_bad {
        None => println!(
            "ok: {} records checked, CRCs and hash chain whole",
            report.checked
        ),
        Some(bad) => println!(
            "corrupt: {} records checked; first bad record is {}: {}",
            report.checked, bad.seq, bad.reason
        ),
    }
}
