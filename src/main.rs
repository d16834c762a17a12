//! The `photoshare` binary: parse the configuration, start logging, then serve (or set up, or print the
//! schema). Everything else is in the library.

use clap::Parser;
use photoshare::app::{Application, Backends};
use photoshare::config::{Cli, Command};

/// mimalloc: the service allocates many small, short-lived values per request (GraphQL values, JSON), from
/// several threads; glibc's allocator spent a quarter of a gallery request's CPU time, partly waiting on its
/// arena locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let telemetry = photoshare::telemetry::init(
        cli.config.observability.log_format,
        cli.config.observability.otlp_endpoint.as_deref(),
    )?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Schema => print!("{}", photoshare::graphql::sdl()),
        Command::Setup => {
            let public_url = format!("http://{}", cli.config.http.listen);
            Backends::connect(&cli.config, &public_url).await?.ensure_created().await?;
            println!("table {:?} and bucket {:?} are ready", cli.config.storage.table, cli.config.storage.bucket);
        }
        Command::Serve => Application::build(cli.config).await?.run_until_signalled().await?,
    }
    telemetry.shutdown();
    Ok(())
}
