//! The `chorale-probe` binary: see `chorale-probe --help`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::ExitCode::from(chorale_probe::run(&args))
}
