//! `deployflow verify`: every record's CRC and the hash chain, walked in
//! order: here, or in the control plane that holds the log
//! (`GET /api/verify`), with the same output and exit codes.

use std::path::Path;

use deployflow::events::{RawLog, StoreError, VerifyReport, verify};

use super::client::Client;
use super::{Exit, Global};

pub fn run(global: &Global, data_dir: &Path) -> anyhow::Result<Exit> {
    if !RawLog::exists(data_dir) {
        anyhow::bail!("no event log in {}", data_dir.display());
    }
    let report = match RawLog::open(data_dir) {
        Ok(log) => verify(&log),
        Err(e) if e.is_corruption() => VerifyReport::unreadable(e.to_string()),
        Err(locked @ StoreError::Locked { .. }) => super::block_on(async {
            // The control plane that holds this data dir's log.
            let Some(client) = Client::find(&global.server, data_dir).await? else {
                anyhow::bail!("{locked}, and no control plane that keeps it answers to verify it");
            };
            let answer = client.get("/api/verify").await?;
            Ok(serde_json::from_value::<VerifyReport>(answer)?)
        })?,
        Err(e) => return Err(e.into()),
    };
    if global.json {
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
