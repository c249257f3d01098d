//! The example app `deployflow demo` deploys, and the
//! scenario app of the black-box tests.
//!
//! `deployflow-hello` serves HTTP on 127.0.0.1:$PORT; environment knobs
//! (settings.rs, README.md) make it crash, start unhealthy, fail a smoke test
//! or require a secret, so one binary drives every branch of the flow.
//! `deployflow-hello smoke` is the release's own test suite (smoke.rs).
//!
//! Built as its own binary (`deployflow-hello`) and inside deployflow
//! (`deployflow example-hello`), so `deployflow demo` needs nothing else.

mod server;
mod settings;
mod smoke;

use std::process::ExitCode;

/// Why the program stops early: the message for stderr and the exit status
/// (2 for bad usage or input, 1 for everything else, as DESIGN.md's codes).
#[derive(Debug)]
pub struct Fatal {
    pub code: u8,
    pub message: String,
}

impl Fatal {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

const USAGE: &str = "usage: deployflow-hello          serve on $HELLO_HOST (127.0.0.1):$PORT\n       \
                     deployflow-hello smoke    run the smoke tests against $DEPLOYFLOW_TARGET_URL";

/// Runs the app with its command-line arguments (after the program name).
pub fn main(args: Vec<String>) -> ExitCode {
    // One thread is plenty for a demo app and keeps many instances cheap on
    // the shared test machines.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hello: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Vec<String>) -> ExitCode {
    let outcome = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => serve().await,
        ["smoke"] => smoke::run().await,
        ["-h" | "--help"] => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(Fatal::usage(format!(
            "unexpected arguments {args:?}\n{USAGE}"
        ))),
    };
    match outcome {
        Ok(code) => code,
        Err(fatal) => {
            eprintln!("hello: {}", fatal.message);
            ExitCode::from(fatal.code)
        }
    }
}

async fn serve() -> Result<ExitCode, Fatal> {
    let settings = settings::Settings::from_env()?;
    server::run(settings).await?;
    Ok(ExitCode::SUCCESS)
}
