//! The `tenantctl` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    tenantctl::cli::main()
}
