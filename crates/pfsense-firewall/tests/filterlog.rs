//! The filter log parser against lines written from Netgate's "Raw Filter Log Format": the
//! common fields, IPv4 (tos, ecn, ttl, id, offset, flags, proto id, proto) or IPv6 (class, flow
//! label, hop limit, proto, proto id), length, source, destination, then per protocol.

use pfsense_firewall::log::{
    IcmpData, IpHeader, LogFilter, ParseOptions, ProtoData, describe_tracker, entries_for_query,
    filter, parse_api_log, parse_line, parse_lines, summarize,
};
use pfsense_firewall::model::Direction;
use pfsense_firewall::{ApiInput, FirewallModel, Query};
use serde_json::json;

const V4: &str = "4,0x0,,64,12345,0,DF";

fn line(csv: &str) -> String {
    format!("Dec  3 05:14:00 fw filterlog[4321]: {csv}")
}

fn parse(csv: &str) -> pfsense_firewall::log::LogEntry {
    parse_line(&line(csv), 1, ParseOptions::default()).unwrap_or_else(|e| panic!("{e}: {csv}"))
}

#[test]
fn rfc5424_tcp_ipv4() {
    let l = "<134>1 2026-12-03T05:13:13.123456+00:00 fw.example filterlog 1234 - - \
             5,,,1000000103,em0,match,block,in,4,0x0,,64,12345,0,DF,6,tcp,60,8.8.8.8,81.2.69.142,40000,22,0,S,1234567,,65535,,mss;nop;wscale";
    let e = parse_line(l, 7, ParseOptions::default()).unwrap();
    assert_eq!(e.line, 7);
    assert_eq!(e.host.as_deref(), Some("fw.example"));
    // 2026-12-03T05:13:13Z, checked with Python's datetime.
    assert_eq!(e.time.as_ref().and_then(|t| t.epoch), Some(1_796_274_793));
    assert_eq!(e.rule_number, Some(5));
    assert_eq!(e.sub_rule, None);
    assert_eq!(e.tracker, Some(1_000_000_103));
    assert_eq!(
        (
            e.interface.as_str(),
            e.reason.as_str(),
            e.action.as_str(),
            e.direction.as_str()
        ),
        ("em0", "match", "block", "in")
    );
    assert_eq!(
        e.ip,
        IpHeader::V4 {
            tos: "0x0".into(),
            ecn: None,
            ttl: 64,
            id: 12345,
            offset: 0,
            flags: "DF".into()
        }
    );
    assert_eq!(
        (e.protocol_id, e.protocol.as_str(), e.length),
        (6, "tcp", 60)
    );
    assert_eq!(e.src.to_string(), "8.8.8.8");
    assert_eq!(
        e.data,
        ProtoData::Tcp {
            src_port: 40000,
            dst_port: 22,
            data_length: 0,
            flags: "S".into(),
            seq: "1234567".into(),
            ack: "".into(),
            window: Some(65535),
            urg: "".into(),
            options: "mss;nop;wscale".into()
        }
    );
}

#[test]
fn rfc5424_offsets_are_applied() {
    let l = "<134>1 2026-12-03T05:13:13+01:00 fw filterlog 1 - - 5,,,1000000103,em0,match,block,in,4,0x0,,64,1,0,none,17,udp,40,8.8.8.8,81.2.69.142,53,5353,12";
    let e = parse_line(l, 1, ParseOptions::default()).unwrap();
    // 05:13:13 at +01:00 is 04:13:13 UTC.
    assert_eq!(e.time.and_then(|t| t.epoch), Some(1_796_271_193));
}

#[test]
fn bsd_udp_ipv4_with_an_assumed_year() {
    let opts = ParseOptions {
        assume_year: Some(2026),
        utc_offset_minutes: 0,
    };
    let e = parse_line(&line("81,,,1001,em0,match,pass,in,4,0x0,,63,0,0,none,17,udp,76,8.8.8.8,81.2.69.142,5353,1194,56"), 1, opts).unwrap();
    assert_eq!(e.host.as_deref(), Some("fw"));
    assert_eq!(
        e.time.as_ref().map(|t| (t.month, t.day, t.hour, t.minute)),
        Some((12, 3, 5, 14))
    );
    assert_eq!(e.time.and_then(|t| t.epoch), Some(1_796_274_840));
    assert_eq!(
        e.data,
        ProtoData::Udp {
            src_port: 5353,
            dst_port: 1194,
            data_length: 56
        }
    );
    // Without a year there is no epoch.
    let e = parse(&format!(
        "81,,,1001,em0,match,pass,in,{V4},17,udp,76,8.8.8.8,81.2.69.142,5353,1194,56"
    ));
    assert_eq!(e.time.and_then(|t| t.epoch), None);
}

#[test]
fn bsd_without_host_and_bare_csv() {
    let e = parse_line("Dec 13 23:59:59 filterlog[1]: 81,,,1001,em0,match,pass,out,4,0x0,,63,0,0,none,17,udp,76,8.8.8.8,81.2.69.142,1,2,3", 1, ParseOptions::default()).unwrap();
    assert_eq!(e.host, None);
    assert_eq!(e.direction, "out");
    let e = parse_line(
        "81,,,1001,em0,match,pass,in,4,0x0,,63,0,0,none,17,udp,76,8.8.8.8,81.2.69.142,1,2,3",
        1,
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(e.time, None);
}

#[test]
fn tcp_ipv6() {
    let e = parse(
        "70,,,1000000105,em0,match,block,in,6,0x00,0x00000,64,tcp,6,80,2001:db8::1,2001:db8::2,51000,443,0,S,1,,64800,,mss",
    );
    assert_eq!(
        e.ip,
        IpHeader::V6 {
            class: "0x00".into(),
            flow_label: "0x00000".into(),
            hop_limit: 64
        }
    );
    assert_eq!(
        (e.protocol_id, e.protocol.as_str(), e.length),
        (6, "tcp", 80)
    );
    assert_eq!(e.dst.to_string(), "2001:db8::2");
    assert_eq!(e.dst_port(), Some(443));
}

#[test]
fn udp_ipv6() {
    let e = parse(
        "70,,,1000000105,em0,match,block,in,6,0x00,0x00000,1,udp,17,40,fe80::1,ff02::1:2,546,547,32",
    );
    assert_eq!(
        e.data,
        ProtoData::Udp {
            src_port: 546,
            dst_port: 547,
            data_length: 32
        }
    );
}

#[test]
fn every_icmp_branch() {
    let base = format!("5,,,1000000103,em0,match,block,in,{V4},1,icmp,84,8.8.8.8,81.2.69.142");
    let cases: Vec<(&str, IcmpData)> = vec![
        (
            "request,1234,1",
            IcmpData::Echo {
                icmp_type: "request".into(),
                id: 1234,
                seq: 1,
            },
        ),
        (
            "reply,1234,2",
            IcmpData::Echo {
                icmp_type: "reply".into(),
                id: 1234,
                seq: 2,
            },
        ),
        (
            "tstamp,5,6",
            IcmpData::Echo {
                icmp_type: "tstamp".into(),
                id: 5,
                seq: 6,
            },
        ),
        (
            "unreachproto,8.8.4.4,47",
            IcmpData::UnreachProto {
                dst: "8.8.4.4".parse().unwrap(),
                protocol_id: 47,
            },
        ),
        (
            "unreachport,8.8.4.4,17,53",
            IcmpData::UnreachPort {
                dst: "8.8.4.4".parse().unwrap(),
                protocol_id: 17,
                port: 53,
            },
        ),
        (
            "needfrag,8.8.4.4,1400",
            IcmpData::NeedFrag {
                dst: "8.8.4.4".parse().unwrap(),
                mtu: 1400,
            },
        ),
        (
            "tstampreply,5,6,100,200,300",
            IcmpData::TstampReply {
                id: 5,
                seq: 6,
                otime: 100,
                rtime: 200,
                ttime: 300,
            },
        ),
        (
            "unreach,host unreachable",
            IcmpData::Described {
                icmp_type: "unreach".into(),
                description: "host unreachable".into(),
            },
        ),
        (
            "timexceed,time exceeded in-transit",
            IcmpData::Described {
                icmp_type: "timexceed".into(),
                description: "time exceeded in-transit".into(),
            },
        ),
        (
            "paramprob,bad header",
            IcmpData::Described {
                icmp_type: "paramprob".into(),
                description: "bad header".into(),
            },
        ),
        (
            "redirect,redirect to 10.0.0.1",
            IcmpData::Described {
                icmp_type: "redirect".into(),
                description: "redirect to 10.0.0.1".into(),
            },
        ),
        (
            "maskreply,255.255.255.0",
            IcmpData::Described {
                icmp_type: "maskreply".into(),
                description: "255.255.255.0".into(),
            },
        ),
        (
            "routeradvert,other",
            IcmpData::Described {
                icmp_type: "routeradvert".into(),
                description: "other".into(),
            },
        ),
    ];
    for (tail, want) in cases {
        let e = parse(&format!("{base},{tail}"));
        assert_eq!(e.data, ProtoData::Icmp(want), "{tail}");
    }
}

#[test]
fn icmpv6_with_and_without_a_type() {
    let e = parse(
        "70,,,1000000105,em0,match,block,in,6,0x00,0x00000,255,ipv6-icmp,58,32,fe80::1,ff02::1,request,1,2",
    );
    assert_eq!(
        e.data,
        ProtoData::Icmp(IcmpData::Echo {
            icmp_type: "request".into(),
            id: 1,
            seq: 2
        })
    );
    let e = parse(
        "70,,,1000000105,em0,match,block,in,6,0x00,0x00000,255,ipv6-icmp,58,32,fe80::1,ff02::1,",
    );
    assert_eq!(e.data, ProtoData::Other { fields: vec![] });
}

#[test]
fn carp_and_other_protocols() {
    let e = parse(&format!(
        "5,,,1000000103,em1,match,pass,in,{V4},112,carp,56,192.168.1.2,224.0.0.18,advertise,255,1,2,1,0"
    ));
    assert_eq!(
        e.data,
        ProtoData::Carp {
            carp_type: "advertise".into(),
            ttl: 255,
            vhid: 1,
            version: 2,
            advbase: 1,
            advskew: 0
        }
    );
    let e = parse(&format!(
        "5,,,1000000103,em0,match,block,in,{V4},47,gre,100,8.8.8.8,81.2.69.142,"
    ));
    assert_eq!(
        (e.protocol.as_str(), e.data.clone()),
        ("gre", ProtoData::Other { fields: vec![] })
    );
    let e = parse(&format!(
        "5,,,1000000103,em0,match,block,in,{V4},50,esp,100,8.8.8.8,81.2.69.142,datalength=80"
    ));
    assert_eq!(
        e.data,
        ProtoData::Other {
            fields: vec!["datalength=80".into()]
        }
    );
}

#[test]
fn malformed_lines_are_counted_with_reasons() {
    let good = line(&format!(
        "5,,,1000000103,em0,match,block,in,{V4},17,udp,40,8.8.8.8,81.2.69.142,1,2,3"
    ));
    let text = [
        good.as_str(),
        "garbage",
        "",
        "Dec  3 05:13:13 fw sshd[1]: Accepted publickey for admin",
        &line("5,,,1000000103,em0,match,block,in,4,0x0"),
        &line(&format!("5,,,1000000103,em0,match,block,in,{V4},17,udp,40,999.1.1.1,81.2.69.142,1,2,3")),
        &line("5,,,1000000103,em0,match,block,in,5,0x0,,64,0,0,DF,6,tcp,60,8.8.8.8,81.2.69.142,1,2,0,S,1,,1,,"),
        &line(&format!("5,,,1000000103,em0,match,block,in,{V4},6,tcp,60,8.8.8.8,81.2.69.142,abc,22,0,S,1,,1,,")),
        &line(&format!("5,,,1000000103,em0,match,block,sideways,{V4},17,udp,40,8.8.8.8,81.2.69.142,1,2,3")),
        &line(&format!("5,,,1000000103,em0,match,block,in,{V4},17,udp,40,2001:db8::1,81.2.69.142,1,2,3")),
        "<134>1 2026-13-03T05:13:13Z fw filterlog 1 - - 5,,,1,em0,match,block,in,4,0x0,,64,1,0,none,17,udp,40,8.8.8.8,8.8.4.4,1,2,3",
    ]
    .join("\n");
    let parsed = parse_lines(text.lines(), ParseOptions::default());
    // The blank line is not counted.
    assert_eq!(parsed.total_lines, 10);
    assert_eq!(parsed.entries.len(), 1);
    let reasons: Vec<(usize, &str)> = parsed
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 9);
    let find = |n: usize| reasons.iter().find(|r| r.0 == n).map(|r| r.1).unwrap_or("");
    assert!(find(2).contains("neither a syslog line"), "{reasons:?}");
    assert!(find(4).contains("no `filterlog` tag"));
    assert!(find(5).contains("line ends before the ECN field"));
    assert!(find(6).contains("`999.1.1.1`"));
    assert!(find(7).contains("IP version `5`"));
    assert!(find(8).contains("source port `abc`"));
    assert!(find(9).contains("sideways"));
    assert!(find(10).contains("do not match IP version 4"));
    assert!(find(11).contains("bad RFC 5424 timestamp"));
}

fn model() -> FirewallModel {
    FirewallModel::from_api(&ApiInput {
        rules: json!([{"type": "pass", "interface": ["wan"], "ipprotocol": "inet", "protocol": "udp",
                       "source": "any", "destination": "(self)", "destination_port": "1194", "descr": "OpenVPN", "tracker": 1001}]),
        interfaces: json!([
            {"id": "wan", "if": "em0", "enable": true, "descr": "WAN", "typev4": "static", "ipaddr": "81.2.69.142", "subnet": 24},
            {"id": "lan", "if": "em1", "enable": true, "descr": "LAN", "typev4": "static", "ipaddr": "192.168.1.1", "subnet": 24}
        ]),
        ..ApiInput::default()
    })
}

fn sample() -> Vec<pfsense_firewall::log::LogEntry> {
    let opts = ParseOptions {
        assume_year: Some(2026),
        utc_offset_minutes: 0,
    };
    let mk = |t: &str, tracker: u64, act: &str, src: &str, proto: &str, port: u16| {
        let pid = if proto == "tcp" { 6 } else { 17 };
        let tail = if proto == "tcp" {
            format!("{port},0,S,1,,1,,")
        } else {
            format!("{port},8")
        };
        format!(
            "Dec  3 {t} fw filterlog[1]: 5,,,{tracker},em0,match,{act},in,{V4},{pid},{proto},40,{src},81.2.69.142,40000,{tail}"
        )
    };
    let lines = [
        mk("05:00:00", 1_000_000_103, "block", "8.8.8.8", "tcp", 22),
        mk("05:01:00", 1_000_000_103, "block", "8.8.8.8", "tcp", 23),
        mk("05:02:00", 1_000_000_103, "block", "1.1.1.1", "tcp", 22),
        mk("05:03:00", 1001, "pass", "9.9.9.9", "udp", 1194),
        mk("06:00:00", 11_001, "block", "198.51.100.7", "udp", 53),
    ];
    parse_lines(lines.iter().map(String::as_str), opts).entries
}

#[test]
fn entries_join_to_rules_by_tracker() {
    let m = model();
    let user = describe_tracker(&m, 1001).unwrap();
    assert_eq!((user.descr.as_str(), user.position), ("OpenVPN", Some(0)));
    assert_eq!(
        describe_tracker(&m, 1_000_000_103).unwrap().origin,
        "default deny"
    );
    assert_eq!(
        describe_tracker(&m, 1_000_000_105).unwrap().descr,
        "Default deny rule IPv6"
    );
    assert_eq!(describe_tracker(&m, 10_001).unwrap().origin, "anti-lockout");
    assert_eq!(describe_tracker(&m, 11_001).unwrap().origin, "bogons");
    assert_eq!(
        describe_tracker(&m, 12_003).unwrap().origin,
        "private networks"
    );
    assert_eq!(describe_tracker(&m, 424_242), None);
}

#[test]
fn filters_and_summaries() {
    let m = model();
    let entries = sample();
    assert_eq!(entries.len(), 5);
    // Time range: 05:00:30 .. 05:30:00 UTC on 2026-12-03 (1796274793 is 05:13:13).
    let start = 1_796_274_793 - 13 * 60 - 13 + 30;
    let f = LogFilter {
        since: Some(start),
        until: Some(start + 30 * 60 - 30),
        ..LogFilter::default()
    };
    assert_eq!(filter(&entries, &f, Some(&m)).len(), 3);
    let by = |f: LogFilter| filter(&entries, &f, Some(&m)).len();
    assert_eq!(
        by(LogFilter {
            address: Some("8.8.8.0/24".parse().unwrap()),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        by(LogFilter {
            port: Some(22),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        by(LogFilter {
            interface: Some("WAN".into()),
            ..Default::default()
        }),
        5
    );
    assert_eq!(
        by(LogFilter {
            interface: Some("lan".into()),
            ..Default::default()
        }),
        0
    );
    assert_eq!(
        by(LogFilter {
            action: Some("pass".into()),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        by(LogFilter {
            tracker: Some(11_001),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        by(LogFilter {
            direction: Some("out".into()),
            ..Default::default()
        }),
        0
    );

    let all: Vec<_> = entries.iter().collect();
    let s = summarize(&all, Some(&m), 2);
    assert_eq!(s.entries, 5);
    assert_eq!(s.by_action.get("block"), Some(&4));
    assert_eq!(s.top_blocked_sources[0].key, "8.8.8.8");
    assert_eq!(s.top_blocked_sources[0].count, 2);
    assert_eq!(s.top_blocked_sources.len(), 2);
    assert_eq!(s.top_blocked_ports[0].key, "tcp/22");
    assert_eq!(s.top_blocked_ports[0].count, 2);
    assert_eq!(s.hits_per_rule[0].tracker, Some(1_000_000_103));
    assert_eq!(s.hits_per_rule[0].count, 3);
    assert_eq!(
        s.hits_per_rule[0].rule.as_ref().unwrap().origin,
        "default deny"
    );

    let q = Query {
        src: "8.8.8.8".parse().unwrap(),
        dst: "81.2.69.142".parse().unwrap(),
        protocol: "tcp".into(),
        src_port: None,
        dst_port: Some(22),
        icmp_type: None,
        interface: "wan".into(),
        direction: Direction::In,
    };
    let hits = entries_for_query(&entries, &q, &m);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].line, 1);
}

#[test]
fn the_api_log_answer_is_read() {
    let answer = json!({"code": 200, "status": "ok", "data": [
        {"text": "Jan  1 00:01:00 pfSense filterlog[1000]: 5,,,1000000103,em0,match,block,in,4,0x0,,64,0,0,DF,6,tcp,60,198.51.100.9,10.0.2.15,40000,22,0,S,1,,,,"},
        {"text": "Jan  1 00:02:00 pfSense filterlog[1000]: broken"},
        {"other": 1}
    ]});
    let p = parse_api_log(&answer, ParseOptions::default());
    assert_eq!(p.total_lines, 3);
    assert_eq!(p.entries.len(), 1);
    assert_eq!(
        p.rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![2, 3]
    );
}
