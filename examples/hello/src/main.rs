//! deployflow-hello: the example app `deployflow demo` deploys, and the
//! scenario app of the black-box tests. The app itself is in `app/`.

mod app;

fn main() -> std::process::ExitCode {
    app::main(std::env::args().skip(1).collect())
}
