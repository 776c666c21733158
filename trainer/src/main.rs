use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cifar_trainer::cli::Cli::parse();
    match cifar_trainer::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
