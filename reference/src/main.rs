//! `reference check FILE` / `reference publish FILE`: validate a reference file, and publish
//! it to the compacted reference topic.

use std::process::ExitCode;

use runtime::{CommonConfig, Env};

const USAGE: &str = "\
usage: reference check FILE.toml     validate a reference file; every problem is listed with its line
       reference publish FILE.toml   validate, then publish new and changed entities and tombstone
                                     the ones the file no longer has (nothing is sent if any problem)

Kafka settings come from the shared environment variables (KAFKA_BOOTSTRAP_SERVERS, TOPIC_NAMESPACE,
TOPIC_REFERENCE_CONFIG, ...); see the root README.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, path) = match (args.first().map(String::as_str), args.get(1)) {
        (Some(c @ ("check" | "publish")), Some(path)) => (c, path.clone()),
        (Some("-h" | "--help" | "help"), _) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("reference: cannot read {path}: {e}");
            return ExitCode::from(66); // EX_NOINPUT
        }
    };
    let set = match reference::parse(&text) {
        Ok(set) => set,
        Err(errors) => {
            for e in &errors {
                eprintln!("{path}:{e}");
            }
            eprintln!("{path}: {} problem(s); nothing was published", errors.len());
            return ExitCode::from(65); // EX_DATAERR
        }
    };
    println!(
        "{path}: ok — {} programs, {} partners, {} links, {} codes, {} rules",
        set.programs.len(),
        set.partners.len(),
        set.links.len(),
        set.codes.len(),
        set.rules.len()
    );
    if command == "check" {
        return ExitCode::SUCCESS;
    }
    let mut env = Env::from_process();
    let config = CommonConfig::from_env(&mut env, "reference", "127.0.0.1:0");
    if let Err(e) = env.finish() {
        eprintln!("reference: {e}");
        return ExitCode::from(78);
    }
    runtime::telemetry::init(config.log_format, &config.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built");
    let revision = reference::revision_of(&text);
    let topic = &config.topics.reference_config;
    match runtime.block_on(reference::publish::publish(
        &config.kafka,
        topic,
        &set,
        &revision,
        chrono::Utc::now(),
    )) {
        Ok(summary) => {
            println!("published {revision} to {topic}: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("reference: publishing to {topic} failed: {e}");
            ExitCode::FAILURE
        }
    }
}
