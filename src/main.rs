//! The `agenthost` command line: a thin layer over the library (see `cli/`).

mod cli;

/// Small, short-lived allocations dominate a request (headers, JSON values, frames).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
