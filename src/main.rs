use std::process::ExitCode;

use clap::Parser;

mod cli;
// The example app, built in so `deployflow demo` needs no other binary.
#[path = "../examples/hello/src/app/mod.rs"]
mod hello_app;

// The router's per-request allocations are small and short-lived, which
// mimalloc serves faster than glibc's allocator (benches/router.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut raw = std::env::args().skip(1);
    if raw.next().as_deref() == Some("example-hello") {
        return hello_app::main(raw.collect());
    }
    let args = cli::Cli::parse();
    if !args.command.serves() {
        // A command whose output is piped into `head` stops quietly when
        // the reader goes, as Unix tools do, instead of panicking on the
        // write. Not the long-running ones: they write to sockets and
        // pipes whose other end may go at any time.
        // SAFETY: the default action, set before any thread starts.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            );
        }
    }
    match cli::run(args) {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            cli::exit_code_of(&e).into()
        }
    }
}
