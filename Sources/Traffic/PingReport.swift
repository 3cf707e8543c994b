import Datapath
import Engine
import Wire

/// The result of one ping run: iputils' statistics and text (ping_common.c `finish`), and a
/// JSON document with the same numbers plus HdrHistogram percentiles of the exact RTT.
///
/// iputils' arithmetic, kept exactly: RTTs are integer microseconds; avg = ⌊tsum / total⌋ and
/// mdev = ⌊√|(tsum2 − tsum²/total) / total|⌋ in integer division, total = received +
/// duplicates (for tsum ≥ INT_MAX: tsum2/total − avg²); loss = `%g` of
/// (transmitted − received) × 100 / transmitted; time = first send → last send, in ms,
/// rounded (iputils' `cur_time` is only set when sending). (So RTTs of 6, 7, 8 µs print mdev
/// 0.000: (149 − 441/3)/3 = 0 in integers.) After the statistics line comes one more:
/// the rtt figures, then ", pipe N" when more than one request was out when one was
/// answered, or an empty line when there is neither. Checked against iputils 20221126 in
/// namespaces: one ping whose reply took 1025 ms printed "time 0ms"; three 200 ms apart
/// whose replies came ~1 s late, "time 406ms" and "rtt …, pipe 3"; three to an address
/// nobody answers, "+3 errors, … time 2048ms" and "pipe 3"; two that got no reply, "time
/// 1026ms" (ping exited 10 s later) and an empty line.
public struct PingReport: Sendable, Equatable {
    public var name: String
    public var configuration: PingConfiguration
    public var identifier: UInt16
    public var transmitted: Int
    public var received: Int
    public var duplicates: Int
    public var errors: Int
    public var sendErrors: SendErrorCounts
    public var icmpErrors: ICMPMessageCounts
    public var events: [PingEvent]
    /// iputils' "time": first send → last send.
    public var elapsed: SimDuration
    /// iputils' `pipesize` (see `Ping.pipesize`).
    public var pipe: Int
    /// Whether ping had exited when the report was made.
    public var finished: Bool
    /// min/avg/max/mdev in µs (nil when nothing was received or without timing).
    public var rtt: RoundTrip?
    public var latency: LatencyPercentiles?
    public var start: SimTime?

    public struct RoundTrip: Sendable, Equatable {
        public var min: Int64
        public var avg: Int64
        public var max: Int64
        public var mdev: Int64
    }

    public init(_ ping: Ping) {
        name = ping.name
        configuration = ping.configuration
        identifier = ping.identifier
        transmitted = ping.transmitted
        received = ping.received
        duplicates = ping.duplicates
        errors = ping.errors
        sendErrors = ping.sendErrors
        icmpErrors = ping.icmpErrors
        events = ping.events
        start = ping.firstSend
        finished = ping.isFinished
        elapsed = ping.firstSend.flatMap { first in ping.lastSend.map { $0 - first } } ?? .zero
        pipe = ping.pipesize
        latency = ping.rttHistogram.percentiles
        rtt = nil
        if received > 0 && configuration.hasTiming {
            rtt = Self.iputilsRoundTrip(tsum: ping.tsum, tsum2: ping.tsum2, tmin: ping.tmin, tmax: ping.tmax,
                                        total: Int64(received + duplicates))
        }
    }

    /// iputils' avg and mdev from its sums (µs).
    public static func iputilsRoundTrip(tsum: Int64, tsum2: Int64, tmin: Int64, tmax: Int64, total: Int64) -> RoundTrip {
        let tmavg = tsum / total
        let tmvar = tsum < Int64(Int32.max)
            ? (tsum2 - (tsum * tsum) / total) / total
            : tsum2 / total - tmavg * tmavg
        let tmdev = Int64(Double(tmvar < 0 ? -tmvar : tmvar).squareRoot())
        return RoundTrip(min: tmin, avg: tmavg, max: tmax, mdev: tmdev)
    }

    /// iputils: (transmitted − received) × 100 / transmitted.
    public var lossPercent: Double {
        transmitted == 0 ? 0 : Double(transmitted - received) * 100 / Double(transmitted)
    }

    /// "time NNNms": `1000 × sec + (nsec + 500000) / 1000000`.
    public var elapsedMilliseconds: Int64 { (elapsed.nanoseconds + 500_000) / 1_000_000 }

    /// `%ld.%03ld` of microseconds.
    static func ms3(_ us: Int64) -> String {
        let f = String(us % 1000)
        return "\(us / 1000)." + String(repeating: "0", count: 3 - f.count) + f
    }

    /// iputils' per-reply " time=" value for a trip time in µs (precision falls as it grows).
    public static func replyTime(_ t: Int64) -> String {
        func pad(_ v: Int64, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: n - s.count) + s }
        if t >= 100_000 - 50 { return "\((t + 500) / 1000)" }
        if t >= 10_000 - 5 { return "\((t + 50) / 1000).\(((t + 50) % 1000) / 100)" }
        if t >= 1000 { return "\((t + 5) / 1000).\(pad(((t + 5) % 1000) / 10, 2))" }
        return "\(t / 1000).\(pad(t % 1000, 3))"
    }

    /// iputils' text for an ICMP error (`pr_icmph`, the cases podwire can produce).
    public static func describe(type: UInt8, code: UInt8) -> String {
        switch (type, code) {
        case (3, 0): "Destination Net Unreachable"
        case (3, 1): "Destination Host Unreachable"
        case (3, 2): "Destination Protocol Unreachable"
        case (3, 3): "Destination Port Unreachable"
        case (3, 4): "Frag needed and DF set"
        case (3, _): "Dest Unreachable, Bad Code: \(code)"
        case (11, 0): "Time to live exceeded"
        case (11, 1): "Frag reassembly time exceeded"
        default: "Bad ICMP type: \(type)"
        }
    }

    /// The line ping prints for one event.
    public static func line(_ e: PingEvent) -> String {
        switch e {
        case .reply(let r):
            var s = "\(r.bytes) bytes from \(r.from): icmp_seq=\(r.sequence) ttl=\(r.ttl)"
            if let t = r.rttMicroseconds { s += " time=\(replyTime(t)) ms" }
            if r.duplicate { s += " (DUP!)" }
            return s
        case .error(let m):
            return "From \(m.from) icmp_seq=\(m.sequence) \(describe(type: m.type, code: m.code))"
        case .sendFailed(_, let error, _):
            return "ping: sendmsg: \(error)"
        }
    }

    /// The statistics block, exactly as iputils prints it (without the blank line before it).
    public var summary: String {
        var s = "--- \(configuration.destination) ping statistics ---\n"
        s += "\(transmitted) packets transmitted, \(received) received"
        if duplicates > 0 { s += ", +\(duplicates) duplicates" }
        if errors > 0 { s += ", +\(errors) errors" }
        if transmitted > 0 {
            s += ", \(DecimalText.g(lossPercent))% packet loss, time \(elapsedMilliseconds)ms"
        }
        s += "\n"
        var last: [String] = []
        if let r = rtt {
            last.append("rtt min/avg/max/mdev = \(Self.ms3(r.min))/\(Self.ms3(r.avg))/\(Self.ms3(r.max))/\(Self.ms3(r.mdev)) ms")
        }
        if pipe > 1 { last.append("pipe \(pipe)") }
        s += last.joined(separator: ", ") + "\n"
        return s
    }

    /// The whole output of ping: header, one line per response, blank line, statistics.
    public var transcript: String {
        let d = configuration.destination
        var s = "PING \(d) (\(d)) \(configuration.size)(\(configuration.size + 28)) bytes of data.\n"
        for e in events { s += Self.line(e) + "\n" }
        s += "\n" + summary
        return s
    }

    public var json: JSONValue {
        func ms(_ us: Int64) -> JSONValue { .number(DecimalText.fixed(us, fractionDigits: 3)) }
        let replies: [JSONValue] = events.compactMap {
            guard case .reply(let r) = $0 else { return nil }
            return .object([
                ("icmp_seq", .int(r.sequence)), ("from", .string(r.from.description)), ("bytes", .int(r.bytes)),
                ("ttl", .int(r.ttl)), ("time_ms", r.rttMicroseconds.map(ms) ?? .null),
                ("rtt_ns", .int(r.rtt.nanoseconds)), ("duplicate", .bool(r.duplicate)),
            ])
        }
        let rttValue: JSONValue = rtt.map {
            .object([("min", ms($0.min)), ("avg", ms($0.avg)), ("max", ms($0.max)), ("mdev", ms($0.mdev))])
        } ?? .null
        return .object([
            ("destination", .string(configuration.destination.description)),
            ("count", .int(configuration.count)),
            ("interval_ms", .number(DecimalText.fixed(configuration.interval.nanoseconds, fractionDigits: 6))),
            ("size", .int(configuration.size)),
            ("transmitted", .int(transmitted)),
            ("received", .int(received)),
            ("duplicates", .int(duplicates)),
            ("errors", .int(errors)),
            ("packet_loss_percent", .number(DecimalText.ratio(UInt64(transmitted - received), times: 100,
                                                              over: UInt64(transmitted), fractionDigits: 6))),
            ("time_ms", .int(elapsedMilliseconds)),
            ("rtt_ms", rttValue),
            ("pipe", pipe > 1 ? .int(pipe) : .null),
            ("icmp_errors", icmpErrors.json),
            ("send_errors", sendErrors.json),
            ("replies", .array(replies)),
            ("lines", .array(events.map { .string(Self.line($0)) })),
            ("podwire", .object([
                ("name", .string(name)),
                ("identifier", .int(identifier)),
                ("start_time", start.map { .number(DecimalText.fixed($0.nanoseconds, fractionDigits: 9)) } ?? .null),
                ("finished", .bool(finished)),
                ("rtt_us", latency?.jsonMicroseconds ?? .null),
            ])),
        ])
    }

    public var jsonText: String { json.text() }
}
