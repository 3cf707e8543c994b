import Engine
import Wire

// `conntrack -L` / `conntrack -S` text, as conntrack-tools prints it through
// libnetfilter_conntrack's `__snprintf_conntrack_default` (src/conntrack/snprintf_default.c):
// every field is printed followed by one space and the last space is cut.

extension ConnectionTracker {
    /// `conntrack -L` lines for every confirmed entry with `expires > now`, ordered by
    /// original tuple (protocol, source, destination, ports) — the kernel's dump order is
    /// its hash order, which podwire does not imitate. `extended` gives
    /// `conntrack -L -o extended,id`: the `ipv4     2 ` prefix and a trailing `id=`.
    ///
    ///     udp      17 28 src=10.244.0.2 dst=10.96.0.20 sport=45596 dport=80 src=10.244.0.3 dst=10.244.0.2 sport=8080 dport=45596 mark=0 use=1
    public func list(now: SimTime, extended: Bool = false) -> [String] {
        list(now: now, layer3: extended, showID: extended)
    }

    /// `conntrack -L` with `-o extended` (`layer3`) and `-o id` (`showID`) chosen separately.
    public func list(now: SimTime, layer3: Bool, showID: Bool) -> [String] {
        entries(now: now).map {
            Self.format($0, now: now, layer3: layer3, showID: showID, accounting: accounting)
        }
    }

    /// The summary conntrack-tools prints (on stderr) after a listing.
    public static func listSummary(count: Int) -> String {
        "conntrack v1.4.7 (conntrack-tools): \(count) flow entries have been shown."
    }

    /// One `conntrack -L` line for `entry`. The timeout column is the whole seconds left,
    /// rounded down (`ctnetlink_dump_timeout`: `nf_ct_expires(ct) / HZ`).
    public static func format(_ entry: ConntrackEntry, now: SimTime, layer3: Bool = false, showID: Bool = false,
                              accounting: Bool = false) -> String {
        var s = ""
        s.reserveCapacity(200)
        if layer3 { s += "ipv4     2 " }                                    // "%-8s %u "
        let number = entry.original.protocolNumber
        appendPadded(protocolName(number), width: 8, to: &s)                 // "%-8s %u "
        s += " \(number) "
        let remaining = entry.expires.nanoseconds - now.nanoseconds
        s += "\(remaining > 0 ? remaining / 1_000_000_000 : 0) "             // "%u "
        entry.original.appendConntrackText(to: &s)
        if accounting { appendCounters(entry.originalCounters, to: &s) }
        if !entry.status.contains(.seenReply) { s += "[UNREPLIED] " }
        entry.reply.appendConntrackText(to: &s)
        if accounting { appendCounters(entry.replyCounters, to: &s) }
        if entry.status.contains(.assured) { s += "[ASSURED] " }
        s += "mark=\(entry.mark) use=1 "
        if showID { s += "id=\(entry.id) " }
        s.removeLast()
        return s
    }

    /// `__proto2str`: the names libnetfilter_conntrack knows, else "unknown".
    public static func protocolName(_ number: UInt8) -> String {
        switch number {
        case 1: "icmp"
        case 6: "tcp"
        case 17: "udp"
        case 33: "dccp"
        case 47: "gre"
        case 58: "icmpv6"
        case 132: "sctp"
        case 136: "udplite"
        default: "unknown"
        }
    }

    /// `conntrack -S`'s line for one CPU, e.g.
    /// "cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0 ".
    public func statisticsLine(cpu: Int = 0) -> String {
        Self.statisticsLine(statistics(cpu: cpu), cpu: cpu)
    }

    /// `statisticsLine` for counters taken earlier.
    public static func statisticsLine(_ st: ConntrackStatistics, cpu: Int = 0) -> String {
        var s = "cpu="
        Self.appendPadded(String(cpu), width: 4, to: &s)                        // "cpu=%-4u\t"
        s += "\tfound=\(st.found) invalid=\(st.invalid) insert=\(st.insert) insert_failed=\(st.insertFailed)"
        s += " drop=\(st.drop) early_drop=\(st.earlyDrop) error=\(st.error) search_restart=\(st.searchRestart)"
        s += " clash_resolve=\(st.clashResolve) chaintoolong=\(st.chainTooLong) "
        return s
    }

    private static func appendPadded(_ text: String, width: Int, to s: inout String) {
        s += text
        var n = text.utf8.count
        while n < width {
            s += " "
            n += 1
        }
    }

    private static func appendCounters(_ counters: ConntrackCounters, to s: inout String) {
        s += "packets=\(counters.packets) bytes=\(counters.bytes) "
    }
}

extension ConntrackTuple {
    /// `__snprintf_address` + `__snprintf_proto`: "src=A dst=B " then, by protocol,
    /// "sport=P dport=Q ", "type=T code=C id=I " (ICMP), "srckey=0x… dstkey=0x… " (GRE) or
    /// nothing (generic). Each field ends with a space.
    func appendConntrackText(to s: inout String) {
        s += "src=\(source) dst=\(destination) "
        switch protocolNumber {
        case 6, 17, 33, 132, 136:
            s += "sport=\(sourcePort) dport=\(destinationPort) "
        case 1, 58:
            s += "type=\(icmpType) code=\(icmpCode) id=\(icmpIdentifier) "
        case 47:
            s += "srckey=0x\(String(sourcePort, radix: 16)) dstkey=0x\(String(destinationPort, radix: 16)) "
        default:
            break
        }
    }
}
