//! `trust verification …`: one verification command, written to the commands topic keyed by
//! the specialist. The scorer judges it; the judgement (accepted, or refused with the
//! possible actions named) is on the verification topic and in ClickHouse
//! (`trust_verification`).

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use runtime::{Output, Producer, RuntimeError};
use schemas::ids::deterministic_id;

use crate::config::TrustConfig;
use crate::router::CommandRecord;
use crate::verification::{Action, Checklist, Command};

/// A command as typed; `None` actions are refused by name.
pub fn command(
    specialist_id: &str,
    action: Action,
    actor: &str,
    reason: &str,
    checklist: Checklist,
    at: DateTime<Utc>,
) -> CommandRecord {
    let issued = at.to_rfc3339_opts(SecondsFormat::Micros, true);
    CommandRecord {
        specialist_id: specialist_id.to_string(),
        command: Command {
            command_id: deterministic_id(
                "vc",
                &[specialist_id, action.as_str(), actor, reason, &issued],
            ),
            action,
            actor: actor.to_string(),
            reason: reason.to_string(),
            checklist,
            at,
        },
    }
}

/// An action by its name.
pub fn action(name: &str) -> Result<Action, String> {
    Action::ALL
        .into_iter()
        .find(|a| a.as_str() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            format!("unknown action {name:?} (one of: {})", names.join(", "))
        })
}

/// Writes the command; returns its id once the broker has it.
pub async fn send(config: &TrustConfig, record: &CommandRecord) -> Result<String, RuntimeError> {
    let kafka = &config.common.kafka;
    runtime::service::create_topics(kafka, &crate::app::topics(&config.common.topics)).await?;
    let payload = serde_json::to_vec(record).map_err(|e| RuntimeError::Sink {
        store: "trust commands",
        detail: e.to_string(),
    })?;
    let output = Output::keyed(
        Arc::from(config.common.topics.trust_commands.as_str()),
        Some(record.specialist_id.clone().into_bytes()),
        payload,
    );
    Producer::new(kafka, "trust-cli")?
        .send_all(&[output])
        .await?;
    Ok(record.command.command_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_by_name_and_a_stable_id() {
        assert_eq!(action("start_review"), Ok(Action::StartReview));
        assert!(action("approve").expect_err("unknown").contains("verify"));
        let at = Utc::now();
        let a = command("p-1", Action::Apply, "ops", "", Checklist::default(), at);
        let b = command("p-1", Action::Apply, "ops", "", Checklist::default(), at);
        assert_eq!(a.command.command_id, b.command.command_id);
        let json = serde_json::to_value(&a).expect("JSON");
        assert_eq!(json["action"], "apply");
        assert_eq!(json["specialist_id"], "p-1");
    }
}
