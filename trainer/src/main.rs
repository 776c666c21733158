use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Before any tensor: keeps freed activation buffers for reuse instead of unmapping them.
    if let Err(error) = cifar_trainer::allocator::keep_freed_buffers() {
        eprintln!("warning: allocator settings left at glibc's defaults: {error}");
    }
    let cli = cifar_trainer::cli::Cli::parse();
    match cifar_trainer::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
