//! The engine's side of alert assertions: one scenario's checkable alerts, checked per
//! phase, each outcome emitted as an [`EventKind::AlertChecked`]. Scenarios without
//! `alerts:` (or whose alert kinds the target has no endpoint for) get `None`, so the
//! engine does nothing for them.

use super::connect::checkable;
use super::{AlertContext, AlertPhase, check_phase, phases};
use crate::events::EventKind;
use crate::scenario::Alert;

/// A scenario's alert assertions, ready to check.
#[derive(Debug, Clone)]
pub struct ScenarioAlerts {
    ctx: AlertContext,
    alerts: Vec<Alert>,
}

impl ScenarioAlerts {
    /// The checkable alerts of a scenario, and a warning line per skipped alert.
    /// `None` when nothing is left to check.
    pub fn prepare(
        ctx: Option<&AlertContext>,
        alerts: &[Alert],
        scenario: &str,
        namespace: &str,
        cancel: tokio::sync::watch::Receiver<bool>,
    ) -> (Option<Self>, Vec<String>) {
        if alerts.is_empty() {
            return (None, Vec::new());
        }
        let Some(ctx) = ctx else {
            let skipped = alerts
                .iter()
                .map(|a| format!("alert {} not checked: no alert endpoints", a.common().name))
                .collect();
            return (None, skipped);
        };
        let mut ctx = ctx.for_scenario(scenario, namespace);
        ctx.cancel = Some(cancel);
        let (ok, skipped) = checkable(&ctx, alerts);
        if ok.is_empty() {
            return (None, skipped);
        }
        let alerts = ok.into_iter().cloned().collect();
        (Some(Self { ctx, alerts }), skipped)
    }

    /// Whether any alert is checked in `phase`.
    pub fn wants(&self, phase: AlertPhase) -> bool {
        self.alerts.iter().any(|a| phases(a).contains(&phase))
    }

    /// Check every alert due in `phase`, emit one event per outcome; true when all passed.
    pub async fn check(&self, phase: AlertPhase, emit: &dyn Fn(EventKind)) -> bool {
        let outcomes = check_phase(&self.alerts, &self.ctx, phase).await;
        let mut all = true;
        for o in outcomes {
            all &= o.passed;
            emit(o.event());
        }
        all
    }
}
