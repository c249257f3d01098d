use std::process::ExitCode;

use clap::Parser;

mod cli;

// The router's per-request allocations are small and short-lived, which
// mimalloc serves faster than glibc's allocator (benches/router.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            cli::exit_code_of(&e).into()
        }
    }
}
