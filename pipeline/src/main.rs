//! The `chorale` binary: everything happens in the library's [`chorale::cli`].

fn main() -> std::process::ExitCode {
    chorale::cli::main()
}
