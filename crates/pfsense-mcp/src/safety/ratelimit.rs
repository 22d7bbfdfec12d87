//! Rate limits on executed mutations, per risk class, over a sliding window. Only calls that
//! are actually sent to the firewall take a slot: previews and refusals never do.

use crate::spec::Risk;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest period of a rate limit (a week, as the longest `--auto-revert`): longer is a
/// mistake, not a limit anyone means.
pub const MAX_PERIOD_SECONDS: u64 = crate::config::MAX_AUTO_REVERT_SECONDS;

/// At most `count` executed calls of one risk class per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Duration,
}

impl Limit {
    pub fn describe(&self) -> String {
        let secs = self.period.as_secs();
        let unit = match secs {
            1 => "second".to_string(),
            60 => "minute".to_string(),
            3600 => "hour".to_string(),
            86_400 => "day".to_string(),
            s => format!("{s} seconds"),
        };
        format!("{} per {unit}", self.count)
    }
}

/// Limits per risk class; None = unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub write: Option<Limit>,
    pub destructive: Option<Limit>,
    pub dangerous: Option<Limit>,
}

/// Defaults: enough for an operator working through a task, few enough that a runaway loop
/// stops within a minute.
impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            write: Some(Limit {
                count: 30,
                period: Duration::from_secs(60),
            }),
            destructive: Some(Limit {
                count: 10,
                period: Duration::from_secs(60),
            }),
            dangerous: Some(Limit {
                count: 3,
                period: Duration::from_secs(3600),
            }),
        }
    }
}

impl RateLimits {
    pub fn for_risk(&self, risk: Risk) -> Option<Limit> {
        match risk {
            Risk::Read => None,
            Risk::Write => self.write,
            Risk::Destructive => self.destructive,
            Risk::Dangerous => self.dangerous,
        }
    }

    /// Apply one `RISK=COUNT/PERIOD` setting (`write=30/min`, `destructive=5/hour`,
    /// `dangerous=off`); PERIOD is `s`, `min`, `hour`, `day` or a number of seconds.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (risk, value) = spec.split_once('=').ok_or_else(|| {
            format!("rate limit `{spec}`: expected RISK=COUNT/PERIOD, e.g. destructive=10/min")
        })?;
        let limit = if matches!(value.trim(), "off" | "none" | "unlimited") {
            None
        } else {
            let (count, period) = value.split_once('/').ok_or_else(|| {
                format!("rate limit `{spec}`: expected COUNT/PERIOD after `=`, e.g. 10/min")
            })?;
            let count: u32 = count
                .trim()
                .parse()
                .map_err(|_| format!("rate limit `{spec}`: `{count}` is not a count"))?;
            let period = match period.trim() {
                "s" | "sec" | "second" => 1,
                "min" | "minute" => 60,
                "h" | "hour" => 3600,
                "d" | "day" => 86_400,
                other => other.trim_end_matches('s').parse().map_err(|_| {
                    format!(
                        "rate limit `{spec}`: period `{other}` is not s, min, hour, day or seconds"
                    )
                })?,
            };
            if count == 0 {
                return Err(format!(
                    "rate limit `{spec}`: a count of 0 would refuse every such change while saying the next is possible soon; to refuse them use --read-only or --deny, to lift the limit use `{}=off`",
                    risk.trim()
                ));
            }
            if period == 0 {
                return Err(format!("rate limit `{spec}`: the period must be positive"));
            }
            if period > MAX_PERIOD_SECONDS {
                return Err(format!(
                    "rate limit `{spec}`: the period must be at most {MAX_PERIOD_SECONDS} seconds (a week); to lift the limit use `{}=off`",
                    risk.trim()
                ));
            }
            Some(Limit {
                count,
                period: Duration::from_secs(period),
            })
        };
        match risk.trim() {
            "write" => self.write = limit,
            "destructive" => self.destructive = limit,
            "dangerous" => self.dangerous = limit,
            other => {
                return Err(format!(
                    "rate limit `{spec}`: `{other}` is not a risk class (write, destructive, dangerous)"
                ));
            }
        }
        Ok(())
    }
}

/// The sliding windows.
pub struct RateLimiter {
    limits: RateLimits,
    taken: Mutex<[VecDeque<Instant>; 3]>,
}

fn slot(risk: Risk) -> Option<usize> {
    match risk {
        Risk::Read => None,
        Risk::Write => Some(0),
        Risk::Destructive => Some(1),
        Risk::Dangerous => Some(2),
    }
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter {
            limits,
            taken: Mutex::new(Default::default()),
        }
    }

    /// Take a slot for a call about to be sent, or say why not (and when a slot frees up).
    pub fn take(&self, risk: Risk) -> Result<(), String> {
        let (Some(limit), Some(i)) = (self.limits.for_risk(risk), slot(risk)) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        let window = &mut taken[i];
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= limit.period)
        {
            window.pop_front();
        }
        if window.len() as u32 >= limit.count {
            let wait = window
                .front()
                .map(|t| limit.period.saturating_sub(now.duration_since(*t)))
                .unwrap_or_default();
            return Err(format!(
                "the rate limit for {} changes ({}) is reached; the next one is possible in {} s. Nothing was sent. The administrator can change it with --rate-limit {}=COUNT/PERIOD (PFSENSE_RATE_LIMIT)",
                risk.as_str(),
                limit.describe(),
                wait.as_secs().max(1),
                risk.as_str()
            ));
        }
        window.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_limits() {
        let mut limits = RateLimits::default();
        limits.set("write=2/min").unwrap();
        limits.set("dangerous=off").unwrap();
        assert!(limits.set("write=x/min").is_err());
        assert!(limits.set("reads=1/min").is_err());
        let limiter = RateLimiter::new(limits);
        assert!(limiter.take(Risk::Write).is_ok());
        assert!(limiter.take(Risk::Write).is_ok());
        let refusal = limiter.take(Risk::Write).unwrap_err();
        assert!(refusal.contains("2 per minute"), "{refusal}");
        assert!(limiter.take(Risk::Dangerous).is_ok());
        assert!(limiter.take(Risk::Read).is_ok());
    }
}
