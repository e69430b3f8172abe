//! `collector` — the HTTP collector service, and the command that makes write keys.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use collector::config::{all_vars, CollectorConfig};
use runtime::service::{help_footer, ServiceCommand, ServiceMain, REFERENCE_FIRST};

/// Takes raw events over HTTP (write keys) and Stripe's webhooks onto the raw topic.
#[derive(Debug, Parser)]
#[command(name = "collector", version, after_help = help_footer(REFERENCE_FIRST))]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
    /// Make write keys
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print a new write key for a program (once) and the reference-file entry that enables it
    New {
        /// The program the key sends events for.
        #[arg(long)]
        program: String,
        /// Who holds it.
        #[arg(long)]
        label: Option<String>,
    },
}

fn main() -> ExitCode {
    let service = ServiceMain {
        name: "collector",
        about: "Takes raw events over HTTP (write keys) and Stripe's webhooks onto the raw topic.",
        title: "Collector",
        vars: all_vars,
        read: CollectorConfig::from_env,
        common: |c: &CollectorConfig| &c.common,
    };
    match Cli::parse().command {
        None => service.run(None, collector::app::run),
        Some(Command::Service(command)) => service.run(Some(command), collector::app::run),
        Some(Command::Key(KeyCommand::New { program, label })) => {
            new_key(&program, label.as_deref())
        }
    }
}

fn new_key(program: &str, label: Option<&str>) -> ExitCode {
    let random = match runtime::api_key::random_bytes::<40>() {
        Ok(random) => random,
        Err(e) => {
            eprintln!("collector: cannot read /dev/urandom: {e}");
            return ExitCode::FAILURE;
        }
    };
    let key = runtime::api_key::issue("wk", &random);
    println!("# Hand this key to the sender once; it is not stored anywhere:");
    println!("#   {}", key.text);
    println!("# Add this to the reference file and run `reference publish`:");
    println!("[[write_keys]]");
    println!("id = {:?}", key.id);
    println!("program = {program:?}");
    println!("secret_sha256 = {:?}", key.secret_sha256);
    if let Some(label) = label {
        println!("label = {label:?}");
    }
    ExitCode::SUCCESS
}
