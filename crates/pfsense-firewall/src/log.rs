//! pfSense's filter log (`filterlog`): the raw CSV format Netgate documents as "Raw Filter Log
//! Format", behind a syslog prefix (RFC 5424 `<134>1 2026-… host filterlog 1234 - - CSV`, BSD
//! `Dec  3 05:13:13 host filterlog[1234]: CSV`, or bare CSV). Every line becomes a typed entry or a
//! rejected line with the reason; nothing is dropped silently. Entries join to rules by tracker.

use crate::explain::{Query, trackers};
use crate::model::FirewallModel;
use ipnet::IpNet;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;

/// A timestamp as the line gives it. `epoch` is set when the line carries a year and an offset
/// (RFC 5424) or the parse options supply them (BSD syslog has neither).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogTime {
    pub year: Option<i32>,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub epoch: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum IpHeader {
    V4 {
        tos: String,
        ecn: Option<String>,
        ttl: u16,
        id: u32,
        offset: u32,
        flags: String,
    },
    V6 {
        class: String,
        flow_label: String,
        hop_limit: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IcmpData {
    /// `request` / `reply` (echo), `tstamp`
    Echo {
        icmp_type: String,
        id: u32,
        seq: u32,
    },
    UnreachProto {
        dst: IpAddr,
        protocol_id: u16,
    },
    UnreachPort {
        dst: IpAddr,
        protocol_id: u16,
        port: u16,
    },
    NeedFrag {
        dst: IpAddr,
        mtu: u32,
    },
    TstampReply {
        id: u32,
        seq: u32,
        otime: u64,
        rtime: u64,
        ttime: u64,
    },
    /// `unreach`, `timexceed`, `paramprob`, `redirect`, `maskreply` and any other type.
    Described {
        icmp_type: String,
        description: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProtoData {
    Tcp {
        src_port: u16,
        dst_port: u16,
        data_length: u32,
        flags: String,
        seq: String,
        ack: String,
        window: Option<u32>,
        urg: String,
        options: String,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        data_length: u32,
    },
    Icmp(IcmpData),
    Carp {
        carp_type: String,
        ttl: u16,
        vhid: u16,
        version: u16,
        advbase: u16,
        advskew: u16,
    },
    /// Any other protocol: the remaining fields as they came.
    Other {
        fields: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    /// 1-based line number in the input.
    pub line: usize,
    pub time: Option<LogTime>,
    pub host: Option<String>,
    pub rule_number: Option<u32>,
    pub sub_rule: Option<String>,
    pub anchor: Option<String>,
    pub tracker: Option<u64>,
    /// The real interface (device), e.g. `em0`.
    pub interface: String,
    pub reason: String,
    pub action: String,
    pub direction: String,
    pub ip: IpHeader,
    pub protocol_id: u16,
    pub protocol: String,
    pub length: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub data: ProtoData,
}

impl LogEntry {
    pub fn src_port(&self) -> Option<u16> {
        match self.data {
            ProtoData::Tcp { src_port, .. } | ProtoData::Udp { src_port, .. } => Some(src_port),
            _ => None,
        }
    }

    pub fn dst_port(&self) -> Option<u16> {
        match self.data {
            ProtoData::Tcp { dst_port, .. } | ProtoData::Udp { dst_port, .. } => Some(dst_port),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedLine {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParsedLog {
    pub total_lines: usize,
    pub entries: Vec<LogEntry>,
    pub rejected: Vec<RejectedLine>,
}

/// What BSD-style lines lack: the year and the firewall's UTC offset.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    pub assume_year: Option<i32>,
    pub utc_offset_minutes: i32,
}

/// Longest excerpt of a rejected line kept in the result.
const REJECTED_EXCERPT: usize = 300;

/// Parses lines of text; blank lines are not counted.
pub fn parse_lines<'a>(lines: impl IntoIterator<Item = &'a str>, opts: ParseOptions) -> ParsedLog {
    let mut out = ParsedLog::default();
    for (i, raw) in lines.into_iter().enumerate() {
        let line = raw.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        out.total_lines += 1;
        match parse_line(line, i + 1, opts) {
            Ok(e) => out.entries.push(e),
            Err(reason) => out.rejected.push(RejectedLine {
                line: i + 1,
                text: line.chars().take(REJECTED_EXCERPT).collect(),
                reason,
            }),
        }
    }
    out
}

/// Parses the answer of `GET /api/v2/status/logs/firewall`: objects with a `text` field (or bare
/// strings). Objects without text are rejected lines too.
pub fn parse_api_log(answer: &Value, opts: ParseOptions) -> ParsedLog {
    let items = crate::json::objects(answer);
    let texts: Vec<Option<&str>> = match answer.get("data").unwrap_or(answer) {
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().or_else(|| v.get("text").and_then(Value::as_str)))
            .collect(),
        _ => items
            .iter()
            .map(|v| v.get("text").and_then(Value::as_str))
            .collect(),
    };
    let mut out = ParsedLog::default();
    for (i, t) in texts.into_iter().enumerate() {
        match t {
            Some(t) => {
                let mut one = parse_lines([t], opts);
                for e in &mut one.entries {
                    e.line = i + 1;
                }
                for r in &mut one.rejected {
                    r.line = i + 1;
                }
                out.total_lines += one.total_lines;
                out.entries.extend(one.entries);
                out.rejected.extend(one.rejected);
            }
            None => {
                out.total_lines += 1;
                out.rejected.push(RejectedLine {
                    line: i + 1,
                    text: String::new(),
                    reason: "log item without a `text` field".into(),
                });
            }
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn epoch(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8, offset_min: i32) -> i64 {
    days_from_civil(y, mo, d) * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)
        - i64::from(offset_min) * 60
}

/// `2026-12-03T05:13:13.123456+01:00` or `…Z`.
fn parse_iso(ts: &str) -> Option<LogTime> {
    let (date, time) = ts.split_once('T')?;
    let mut dp = date.split('-');
    let y: i32 = dp.next()?.parse().ok()?;
    let mo: u8 = dp.next()?.parse().ok()?;
    let d: u8 = dp.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else {
        let idx = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(idx);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (
            c,
            sign * (oh.parse::<i32>().ok()? * 60 + om.parse::<i32>().ok()?),
        )
    };
    let clock = clock.split('.').next()?;
    let mut cp = clock.split(':');
    let h: u8 = cp.next()?.parse().ok()?;
    let mi: u8 = cp.next()?.parse().ok()?;
    let s: u8 = cp.next()?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(LogTime {
        year: Some(y),
        month: mo,
        day: d,
        hour: h,
        minute: mi,
        second: s,
        epoch: Some(epoch(y, mo, d, h, mi, s, offset)),
    })
}

/// `Dec  3 05:13:13` (the day may be space-padded): returns the time and the rest of the line.
fn parse_bsd(line: &str, opts: ParseOptions) -> Option<(LogTime, &str)> {
    let mon = MONTHS.iter().position(|m| line.starts_with(m))? as u8 + 1;
    let rest = line[3..].trim_start();
    let (day, rest) = rest.split_once(' ')?;
    let d: u8 = day.parse().ok()?;
    let (clock, rest) = rest.trim_start().split_once(' ')?;
    let mut cp = clock.split(':');
    let h: u8 = cp.next()?.parse().ok()?;
    let mi: u8 = cp.next()?.parse().ok()?;
    let s: u8 = cp.next()?.split('.').next()?.parse().ok()?;
    let ep = opts
        .assume_year
        .map(|y| epoch(y, mon, d, h, mi, s, opts.utc_offset_minutes));
    Some((
        LogTime {
            year: opts.assume_year,
            month: mon,
            day: d,
            hour: h,
            minute: mi,
            second: s,
            epoch: ep,
        },
        rest,
    ))
}

/// After the timestamp: `[host ]filterlog[pid]: CSV` (BSD style).
fn after_tag(rest: &str) -> Result<(Option<String>, &str), String> {
    let rest = rest.trim_start();
    let idx = rest
        .find("filterlog")
        .ok_or("not a filterlog line (no `filterlog` tag)")?;
    let host = rest[..idx].trim();
    let tail = &rest[idx + "filterlog".len()..];
    let colon = tail.find(':').ok_or("no `:` after the filterlog tag")?;
    Ok((
        (!host.is_empty()).then(|| host.to_string()),
        tail[colon + 1..].trim_start(),
    ))
}

/// Splits a line into timestamp, host and the CSV payload.
fn split_prefix(
    line: &str,
    opts: ParseOptions,
) -> Result<(Option<LogTime>, Option<String>, &str), String> {
    let mut s = line.trim_start();
    if let Some(rest) = s.strip_prefix('<') {
        let end = rest.find('>').ok_or("unterminated syslog priority `<…>`")?;
        if !rest[..end].chars().all(|c| c.is_ascii_digit()) {
            return Err("syslog priority is not a number".into());
        }
        s = &rest[end + 1..];
        // RFC 5424: `1 TIMESTAMP HOST APP PROCID MSGID SD MSG`.
        if let Some(r) = s.strip_prefix("1 ") {
            let mut parts = r.splitn(6, ' ');
            let ts = parts.next().ok_or("RFC 5424 line without a timestamp")?;
            let host = parts.next().ok_or("RFC 5424 line without a host")?;
            let app = parts.next().ok_or("RFC 5424 line without an app name")?;
            let _procid = parts.next().ok_or("RFC 5424 line without a process id")?;
            let _msgid = parts.next().ok_or("RFC 5424 line without a message id")?;
            let rest = parts.next().ok_or("RFC 5424 line without a message")?;
            if app != "filterlog" {
                return Err(format!("not a filterlog line (app `{app}`)"));
            }
            let msg = if let Some(m) = rest.strip_prefix("- ") {
                m
            } else if rest.starts_with('[') {
                rest.find("] ")
                    .map(|i| &rest[i + 2..])
                    .ok_or("unterminated structured data")?
            } else {
                rest
            };
            let time = if ts == "-" {
                None
            } else {
                Some(parse_iso(ts).ok_or_else(|| format!("bad RFC 5424 timestamp `{ts}`"))?)
            };
            let host = (host != "-").then(|| host.to_string());
            return Ok((time, host, msg.trim_start()));
        }
    }
    if let Some((time, rest)) = parse_bsd(s, opts) {
        let (host, csv) = after_tag(rest)?;
        return Ok((Some(time), host, csv));
    }
    if let Some((ts, rest)) = s.split_once(' ')
        && ts.contains('T')
        && ts.as_bytes().first().is_some_and(u8::is_ascii_digit)
    {
        let time = parse_iso(ts).ok_or_else(|| format!("bad timestamp `{ts}`"))?;
        let (host, csv) = after_tag(rest)?;
        return Ok((Some(time), host, csv));
    }
    if s.contains("filterlog") {
        let (host, csv) = after_tag(s)?;
        return Ok((None, host, csv));
    }
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit) && s.contains(',') {
        return Ok((None, None, s));
    }
    Err("neither a syslog line from filterlog nor filterlog CSV".into())
}

struct Fields<'a> {
    f: Vec<&'a str>,
    i: usize,
}

impl<'a> Fields<'a> {
    fn next(&mut self, what: &str) -> Result<&'a str, String> {
        let v =
            self.f.get(self.i).copied().ok_or_else(|| {
                format!("line ends before the {what} field (field {})", self.i + 1)
            })?;
        self.i += 1;
        Ok(v.trim())
    }

    fn num<T: FromStr>(&mut self, what: &str) -> Result<T, String> {
        let i = self.i + 1;
        let v = self.next(what)?;
        v.parse()
            .map_err(|_| format!("{what} `{v}` (field {i}) is not a number"))
    }

    fn ip(&mut self, what: &str) -> Result<IpAddr, String> {
        let i = self.i + 1;
        let v = self.next(what)?;
        IpAddr::from_str(v).map_err(|_| format!("{what} `{v}` (field {i}) is not an IP address"))
    }

    fn opt(&mut self, what: &str) -> Result<Option<String>, String> {
        let v = self.next(what)?;
        Ok((!v.is_empty()).then(|| v.to_string()))
    }

    fn rest(&mut self) -> Vec<String> {
        let r = self.f[self.i.min(self.f.len())..]
            .iter()
            .map(|s| s.to_string())
            .collect();
        self.i = self.f.len();
        r
    }
}

/// Parses one line.
pub fn parse_line(line: &str, number: usize, opts: ParseOptions) -> Result<LogEntry, String> {
    let (time, host, csv) = split_prefix(line, opts)?;
    let mut f = Fields {
        f: csv.trim().split(',').collect(),
        i: 0,
    };
    let rule_number = f.opt("rule number")?;
    let rule_number = match rule_number {
        Some(n) => Some(
            n.parse()
                .map_err(|_| format!("rule number `{n}` is not a number"))?,
        ),
        None => None,
    };
    let sub_rule = f.opt("sub-rule")?;
    let anchor = f.opt("anchor")?;
    let tracker = match f.opt("tracker")? {
        Some(t) => Some(
            t.parse()
                .map_err(|_| format!("tracker `{t}` is not a number"))?,
        ),
        None => None,
    };
    let interface = f.next("interface")?.to_string();
    if interface.is_empty() {
        return Err("empty interface field (field 5)".into());
    }
    let reason = f.next("reason")?.to_string();
    let action = f.next("action")?.to_string();
    if action.is_empty() {
        return Err("empty action field (field 7)".into());
    }
    let direction = f.next("direction")?.to_string();
    if !matches!(direction.as_str(), "in" | "out") {
        return Err(format!(
            "direction `{direction}` (field 8) is neither in nor out"
        ));
    }
    let version = f.next("IP version")?;
    let (ip, protocol_id, protocol) = match version {
        "4" => {
            let tos = f.next("TOS")?.to_string();
            let ecn = f.opt("ECN")?;
            let ttl = f.num("TTL")?;
            let id = f.num("IP id")?;
            let offset = f.num("fragment offset")?;
            let flags = f.next("IP flags")?.to_string();
            let protocol_id = f.num("protocol id")?;
            let protocol = f.next("protocol")?.to_ascii_lowercase();
            (
                IpHeader::V4 {
                    tos,
                    ecn,
                    ttl,
                    id,
                    offset,
                    flags,
                },
                protocol_id,
                protocol,
            )
        }
        "6" => {
            let class = f.next("class")?.to_string();
            let flow_label = f.next("flow label")?.to_string();
            let hop_limit = f.num("hop limit")?;
            let protocol = f.next("protocol")?.to_ascii_lowercase();
            let protocol_id = f.num("protocol id")?;
            (
                IpHeader::V6 {
                    class,
                    flow_label,
                    hop_limit,
                },
                protocol_id,
                protocol,
            )
        }
        v => return Err(format!("IP version `{v}` (field 9) is neither 4 nor 6")),
    };
    let length = f.num("length")?;
    let src = f.ip("source address")?;
    let dst = f.ip("destination address")?;
    if src.is_ipv6() != (version == "6") || dst.is_ipv6() != (version == "6") {
        return Err(format!("addresses do not match IP version {version}"));
    }
    let data = match protocol_id {
        6 => ProtoData::Tcp {
            src_port: f.num("source port")?,
            dst_port: f.num("destination port")?,
            data_length: f.num("data length")?,
            flags: f.next("TCP flags")?.to_string(),
            seq: f.next("sequence number")?.to_string(),
            ack: f.next("ack number")?.to_string(),
            window: f.opt("window")?.and_then(|w| w.parse().ok()),
            urg: f.next("urg").unwrap_or_default().to_string(),
            options: f.rest().join(","),
        },
        17 => ProtoData::Udp {
            src_port: f.num("source port")?,
            dst_port: f.num("destination port")?,
            data_length: f.num("data length")?,
        },
        1 => ProtoData::Icmp(parse_icmp(&mut f)?),
        // ICMPv6 lines may carry a type or nothing after the addresses.
        58 if f.f.get(f.i).is_some_and(|s| !s.trim().is_empty()) => {
            ProtoData::Icmp(parse_icmp(&mut f)?)
        }
        112 => ProtoData::Carp {
            carp_type: f.next("CARP type")?.to_string(),
            ttl: f.num("CARP TTL")?,
            vhid: f.num("CARP VHID")?,
            version: f.num("CARP version")?,
            // Order as in the documented grammar (advbase, then advskew).
            advbase: f.num("CARP advbase")?,
            advskew: f.num("CARP advskew")?,
        },
        _ => ProtoData::Other {
            fields: f.rest().into_iter().filter(|s| !s.is_empty()).collect(),
        },
    };
    Ok(LogEntry {
        line: number,
        time,
        host,
        rule_number,
        sub_rule,
        anchor,
        tracker,
        interface,
        reason,
        action,
        direction,
        ip,
        protocol_id,
        protocol,
        length,
        src,
        dst,
        data,
    })
}

fn parse_icmp(f: &mut Fields) -> Result<IcmpData, String> {
    let t = f.next("ICMP type")?.to_string();
    Ok(match t.as_str() {
        "request" | "reply" | "tstamp" => IcmpData::Echo {
            icmp_type: t,
            id: f.num("ICMP id")?,
            seq: f.num("ICMP sequence")?,
        },
        "unreachproto" => IcmpData::UnreachProto {
            dst: f.ip("ICMP destination")?,
            protocol_id: f.num("ICMP protocol id")?,
        },
        "unreachport" => IcmpData::UnreachPort {
            dst: f.ip("ICMP destination")?,
            protocol_id: f.num("ICMP protocol id")?,
            port: f.num("ICMP port")?,
        },
        "needfrag" => IcmpData::NeedFrag {
            dst: f.ip("ICMP destination")?,
            mtu: f.num("ICMP MTU")?,
        },
        "tstampreply" => IcmpData::TstampReply {
            id: f.num("ICMP id")?,
            seq: f.num("ICMP sequence")?,
            otime: f.num("ICMP otime")?,
            rtime: f.num("ICMP rtime")?,
            ttime: f.num("ICMP ttime")?,
        },
        "" => return Err("empty ICMP type".into()),
        _ => IcmpData::Described {
            icmp_type: t,
            description: f.rest().join(","),
        },
    })
}

/// What a tracker stands for: a user rule, or one pfSense generates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackerInfo {
    pub tracker: u64,
    pub origin: String,
    pub descr: String,
    /// Position of a user rule in the API's list.
    pub position: Option<usize>,
    pub interface: Option<String>,
}

/// Looks up a tracker: user rules by their tracker, generated ones by pfSense's fixed ranges
/// (filter.inc: anti-lockout 10000-10999, bogons 11000-11999, RFC 1918 12000-12999) and the
/// default deny/link-local trackers counted from 1000000100.
pub fn describe_tracker(model: &FirewallModel, tracker: u64) -> Option<TrackerInfo> {
    if let Some(r) = model.rule_by_tracker(tracker) {
        return Some(TrackerInfo {
            tracker,
            origin: if r.floating {
                "floating rule".into()
            } else {
                "rule".into()
            },
            descr: r.descr.clone(),
            position: Some(r.position),
            interface: r.interfaces.first().cloned(),
        });
    }
    let ll = !model
        .settings
        .known
        .link_local_block_disabled
        .unwrap_or(false);
    let v6_block = model.settings.known.ipv6_allowed == Some(false);
    let deny_first = trackers::BASE + if v6_block { 4 } else { 0 } + if ll { 2 } else { 0 } + 1;
    let named = |origin: &str, descr: &str| {
        Some(TrackerInfo {
            tracker,
            origin: origin.into(),
            descr: descr.into(),
            position: None,
            interface: None,
        })
    };
    match tracker {
        10_000..=10_999 => named("anti-lockout", "Anti-Lockout Rule"),
        11_000..=11_999 => named("bogons", "Block bogon networks"),
        12_000..=12_999 => named("private networks", "Block private networks"),
        t if ll && (deny_first - 2..deny_first).contains(&t) => {
            named("link-local", "Block IPv4 link-local")
        }
        t if t == deny_first || t == deny_first + 1 => {
            named("default deny", "Default deny rule IPv4")
        }
        t if t == deny_first + 2 || t == deny_first + 3 => {
            named("default deny", "Default deny rule IPv6")
        }
        _ => None,
    }
}

/// An address filter's value: a network, or a bare address as the network of that one
/// address. Errors name the field.
fn net_filter<'de, D: serde::Deserializer<'de>>(
    d: D,
    field: &str,
) -> Result<Option<IpNet>, D::Error> {
    let Some(raw) = <Option<String> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    let v = raw.trim();
    IpAddr::from_str(v)
        .map(IpNet::from)
        .or_else(|_| IpNet::from_str(v))
        .map(Some)
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "`{field}`: `{raw}` is not an IP address or network (examples: 203.0.113.5, 198.51.100.0/24, 2001:db8::/32)"
            ))
        })
}

fn address_filter<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<IpNet>, D::Error> {
    net_filter(d, "address")
}

fn src_filter<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<IpNet>, D::Error> {
    net_filter(d, "src")
}

fn dst_filter<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<IpNet>, D::Error> {
    net_filter(d, "dst")
}

/// Entry filters; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, Serialize)]
#[serde(default)]
pub struct LogFilter {
    /// Unix seconds, inclusive. Entries without a full timestamp do not pass a time filter.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Source or destination in this address or network (a bare address is a /32 or /128).
    #[serde(deserialize_with = "address_filter")]
    pub address: Option<IpNet>,
    #[serde(deserialize_with = "src_filter")]
    pub src: Option<IpNet>,
    #[serde(deserialize_with = "dst_filter")]
    pub dst: Option<IpNet>,
    /// Source or destination port.
    pub port: Option<u16>,
    /// Interface id, description or device.
    pub interface: Option<String>,
    pub action: Option<String>,
    pub direction: Option<String>,
    pub tracker: Option<u64>,
    pub protocol: Option<String>,
}

impl LogFilter {
    pub fn matches(&self, e: &LogEntry, model: Option<&FirewallModel>) -> bool {
        let t = e.time.as_ref().and_then(|t| t.epoch);
        if self.since.is_some_and(|s| t.is_none_or(|t| t < s))
            || self.until.is_some_and(|u| t.is_none_or(|t| t > u))
        {
            return false;
        }
        if self
            .address
            .is_some_and(|n| !n.contains(&e.src) && !n.contains(&e.dst))
        {
            return false;
        }
        if self.src.is_some_and(|n| !n.contains(&e.src))
            || self.dst.is_some_and(|n| !n.contains(&e.dst))
        {
            return false;
        }
        if self
            .port
            .is_some_and(|p| e.src_port() != Some(p) && e.dst_port() != Some(p))
        {
            return false;
        }
        if let Some(i) = &self.interface {
            let device = model
                .and_then(|m| m.interface(i))
                .map(|x| x.device.as_str());
            if e.interface != *i && Some(e.interface.as_str()) != device {
                return false;
            }
        }
        if self
            .action
            .as_ref()
            .is_some_and(|a| !e.action.eq_ignore_ascii_case(a))
            || self
                .direction
                .as_ref()
                .is_some_and(|d| !e.direction.eq_ignore_ascii_case(d))
            || self.tracker.is_some_and(|t| e.tracker != Some(t))
            || self
                .protocol
                .as_ref()
                .is_some_and(|p| !e.protocol.eq_ignore_ascii_case(p))
        {
            return false;
        }
        true
    }
}

pub fn filter<'a>(
    entries: &'a [LogEntry],
    f: &LogFilter,
    model: Option<&FirewallModel>,
) -> Vec<&'a LogEntry> {
    entries.iter().filter(|e| f.matches(e, model)).collect()
}

/// Log entries of the connection a query describes (its source, destination, protocol and
/// destination port, on its interface's device).
pub fn entries_for_query<'a>(
    entries: &'a [LogEntry],
    q: &Query,
    model: &FirewallModel,
) -> Vec<&'a LogEntry> {
    let device = model.interface(&q.interface).map(|i| i.device.clone());
    entries
        .iter()
        .filter(|e| {
            e.src == q.src
                && e.dst == q.dst
                && e.protocol.eq_ignore_ascii_case(&q.protocol)
                && (q.dst_port.is_none() || e.dst_port() == q.dst_port)
                && device.as_ref().is_none_or(|d| *d == e.interface)
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Count {
    pub key: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleHits {
    pub tracker: Option<u64>,
    pub count: usize,
    pub actions: Vec<String>,
    pub rule: Option<TrackerInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogSummary {
    pub entries: usize,
    pub by_action: BTreeMap<String, usize>,
    pub top_blocked_sources: Vec<Count>,
    pub top_blocked_destinations: Vec<Count>,
    /// `proto/port` of blocked traffic.
    pub top_blocked_ports: Vec<Count>,
    pub hits_per_rule: Vec<RuleHits>,
}

fn top(map: BTreeMap<String, usize>, n: usize) -> Vec<Count> {
    let mut v: Vec<Count> = map
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    // Most first; ties in key order so the answer is stable.
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    v.truncate(n);
    v
}

/// Counts by action, the top `n` blocked sources, destinations and ports, and hits per rule.
pub fn summarize(entries: &[&LogEntry], model: Option<&FirewallModel>, n: usize) -> LogSummary {
    let mut by_action = BTreeMap::new();
    let (mut srcs, mut dsts, mut ports) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let mut hits: BTreeMap<Option<u64>, (usize, Vec<String>)> = BTreeMap::new();
    for e in entries {
        *by_action.entry(e.action.clone()).or_insert(0) += 1;
        if e.action != "pass" {
            *srcs.entry(e.src.to_string()).or_insert(0) += 1;
            *dsts.entry(e.dst.to_string()).or_insert(0) += 1;
            if let Some(p) = e.dst_port() {
                *ports.entry(format!("{}/{p}", e.protocol)).or_insert(0) += 1;
            }
        }
        let h = hits.entry(e.tracker).or_insert((0, Vec::new()));
        h.0 += 1;
        if !h.1.contains(&e.action) {
            h.1.push(e.action.clone());
        }
    }
    let mut hits_per_rule: Vec<RuleHits> = hits
        .into_iter()
        .map(|(tracker, (count, actions))| RuleHits {
            tracker,
            count,
            actions,
            rule: tracker.and_then(|t| model.and_then(|m| describe_tracker(m, t))),
        })
        .collect();
    hits_per_rule.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.tracker.cmp(&b.tracker))
    });
    LogSummary {
        entries: entries.len(),
        by_action,
        top_blocked_sources: top(srcs, n),
        top_blocked_destinations: top(dsts, n),
        top_blocked_ports: top(ports, n),
        hits_per_rule,
    }
}
