//! A call's deadline: the `grpc-timeout` its client sent, turned into an
//! instant when the call arrives, so handlers can refuse work that cannot finish
//! in time and answer DEADLINE_EXCEEDED when time runs out.

use std::time::{Duration, Instant};
use tonic::Request;

/// Handlers give up this long before the client's deadline: tonic starts its own
/// timer for `grpc-timeout` as the call arrives and, if it fires first, answers
/// CANCELLED; two milliseconds is one tick of tokio's timer wheel plus rounding.
pub const MARGIN: Duration = Duration::from_millis(2);

/// When the handler must have answered; set by [`stamp`] from `grpc-timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Instant);

/// Records a call's deadline (its `grpc-timeout` counted from `arrived`, less
/// [`MARGIN`]) among the request's extensions, where handlers find it with [`of`].
/// The RPC layer calls this for every gRPC call as it arrives.
pub fn stamp(extensions: &mut tonic::codegen::http::Extensions, timeout: Option<Duration>, arrived: Instant) {
    if let Some(at) = timeout.and_then(|t| arrived.checked_add(t.saturating_sub(MARGIN))) {
        extensions.insert(Deadline(at));
    }
}

/// The deadline [`stamp`] recorded on a call, if its client set one (REST calls have none).
pub fn of<T>(request: &Request<T>) -> Option<Instant> {
    request.extensions().get::<Deadline>().map(|d| d.0)
}

/// Parses gRPC's `TimeoutValue TimeoutUnit`: at most 8 digits, then H, M, S, m, u or n.
pub fn parse_timeout(s: &str) -> Option<Duration> {
    let unit = s.chars().last()?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(n * 3600),
        'M' => Duration::from_secs(n * 60),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_as_grpc_spells_them() {
        assert_eq!(parse_timeout("50m"), Some(Duration::from_millis(50)));
        assert_eq!(parse_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_timeout("99999999H"),
            Some(Duration::from_secs(99_999_999 * 3600))
        );
        assert_eq!(parse_timeout("7u"), Some(Duration::from_micros(7)));
        for bad in ["", "m", "5", "123456789m", "5x", "-5m", "5 m", "٣m", "5٣"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_call_carries_its_deadline_less_the_margin() {
        let before = Instant::now();
        let mut r = Request::new(());
        stamp(r.extensions_mut(), Some(Duration::from_millis(100)), before);
        assert_eq!(of(&r), Some(before + Duration::from_millis(98)));
        // No timeout, or one too large for an Instant: no deadline, no panic.
        let mut r = Request::new(());
        stamp(r.extensions_mut(), None, before);
        assert_eq!(of(&r), None);
        stamp(r.extensions_mut(), Some(Duration::MAX), before);
        assert_eq!(of(&r), None);
    }
}
