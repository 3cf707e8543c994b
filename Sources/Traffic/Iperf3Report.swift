import Datapath
import Engine
import Wire

/// The result of one iperf3 UDP test, and its JSON in the shape of the client's
/// `iperf3 -u -J` (iperf 3.12, shared/reference/ecosystem.md §4.1), keys in its order:
/// - `start`: `connected[]`, `version`, `system_info`, `timestamp`, `connecting_to`,
///   `cookie`, `target_bitrate`, `sock_bufsize`, `sndbuf_actual`, `rcvbuf_actual`,
///   `test_start`;
/// - `intervals[]`: one per second of `-t`, the client's sending, as `-i 1` writes them;
/// - `end`: `streams[].udp` (the stream, with `socket` and `out_of_order`), `sum` (`start`,
///   `end`, `seconds`, `bytes`, `bits_per_second`, `jitter_ms`, `lost_packets`, `packets`,
///   `lost_percent`, `sender`), `sum_sent` and `sum_received` (the same keys: the sender's
///   with no jitter or loss, the receiver's with `sender: false`);
/// - and a `podwire` object.
///
/// Checked against iperf 3.12 (`iperf3 -c … -u -b 20M -l 1000 -t 2 -J` between two
/// namespaces, 2026-11-25): every key it writes is here, in its order, except
/// `end.cpu_utilization_percent`, which podwire leaves out (its CPU time is per core, not
/// per process). Values that describe the machine are podwire's own: `version` and
/// `system_info` say podwire, `timestamp` is the test's start on the simulated clock
/// (`SimTime.epochSeconds`), `cookie` is derived from the flow, and the socket buffers are
/// Linux's defaults (212992), which podwire does not model.
///
/// Conventions, as iperf3 on the client side:
/// * `sum.bytes`/`sum.bits_per_second` are the sender's; `sum.packets` is the sender's
///   datagram count (sequence numbers used); `lost_packets`, `jitter_ms`, `out_of_order`
///   are the server's (see `Iperf3StreamStatistics` for the rules); `lost_percent` =
///   100 × lost_packets / packets. Tail loss is invisible to that rule, as in iperf3:
///   `podwire.unreceived_packets` (sent − received) shows it.
/// * Both sender and receiver intervals are the configured test time (`-t`), measured
///   from the test start; `podwire` gives the first and last arrival.
/// * `podwire.one_way_delay_us`: arrival − send time in the header, from an HdrHistogram.
///   The header carries microseconds, so the delay is exact when sends fall on whole
///   microseconds (any start on a whole µs with a pacing interval of whole µs).
///
/// Numbers are written from integers (`DecimalText`): the document is byte-identical
/// across runs of one scenario.
public struct Iperf3Report: Sendable, Equatable {
    public var name: String
    public var configuration: Iperf3ClientConfiguration
    public var clientAddress: IPv4Address
    public var clientPort: UInt16
    public var socket: Int32
    /// Datagrams attempted: sequence numbers used (iperf3's `packets`).
    public var packets: UInt64
    public var datagramsSent: UInt64
    public var bytesSent: UInt64
    public var sendErrors: SendErrorCounts
    public var icmpErrors: ICMPMessageCounts
    /// What the client sent in each second of the test (the last may be shorter).
    public var intervals: [Iperf3Interval]
    /// Receive side (zero when no datagram reached the server).
    public var packetsReceived: UInt64
    public var bytesReceived: UInt64
    public var lostPackets: UInt64
    public var outOfOrder: UInt64
    public var highestSequence: UInt64
    public var jitterNanoseconds: Double
    public var firstArrival: SimTime?
    public var lastArrival: SimTime?
    public var latency: LatencyPercentiles?

    /// Joins the client's counters with the server's stream for this client (matched by the
    /// client's source address and port). `server` nil or a server that never heard from
    /// the client gives a report with nothing received.
    public init(client: Iperf3Client, server: Iperf3Server?, world: World) {
        self.init(client: client, servers: server.map { [$0] } ?? [], world: world)
    }

    /// The same, with the stream taken from whichever of `servers` received it: a client
    /// sending to a Service reaches the one endpoint its conntrack entry was DNATed to, so
    /// every endpoint's server is asked.
    public init(client: Iperf3Client, servers: [Iperf3Server], world: World) {
        name = client.name
        configuration = client.configuration
        clientAddress = client.sourceAddress(in: world) ?? .any
        clientPort = client.localPort
        socket = client.socket.rawValue
        packets = client.datagrams
        datagramsSent = client.datagramsSent
        bytesSent = client.bytesSent
        sendErrors = client.sendErrors
        icmpErrors = client.icmpErrors
        let count = Int((configuration.time.nanoseconds + Iperf3Client.reportingInterval.nanoseconds - 1)
                        / Iperf3Client.reportingInterval.nanoseconds)
        intervals = (0..<count).map { $0 < client.intervals.count ? client.intervals[$0] : Iperf3Interval() }
        // The stream is keyed by the source the server saw: the client's own, or after SNAT
        // (a NodePort from outside: MASQUERADE --random-fully) the one conntrack gave it.
        let sources = world.receiverSources(ofUDPFrom: clientAddress, port: clientPort, to: configuration.server,
                                            port: configuration.port, at: configuration.start + configuration.time)
        let s = servers.lazy.flatMap { server in sources.lazy.compactMap { server.stream(from: $0.address, port: $0.port) } }
            .first
        packetsReceived = s?.packets ?? 0
        bytesReceived = s?.bytes ?? 0
        lostPackets = s?.lost ?? 0
        outOfOrder = s?.outOfOrder ?? 0
        highestSequence = s?.highestSequence ?? 0
        jitterNanoseconds = s?.jitterNanoseconds ?? 0
        firstArrival = s?.firstArrival
        lastArrival = s?.lastArrival
        latency = s?.latency.percentiles
    }

    /// Sent datagrams the server never received (tail loss included).
    public var unreceivedPackets: UInt64 { packets > packetsReceived ? packets - packetsReceived : 0 }

    /// iperf3's `lost_percent`: 100 × lost / packets (0 when nothing was sent).
    public var lostPercent: Double { packets == 0 ? 0 : 100 * Double(lostPackets) / Double(packets) }

    private var seconds: JSONValue { .number(DecimalText.fixed(configuration.time.nanoseconds, fractionDigits: 9)) }

    private func bitsPerSecond(_ bytes: UInt64) -> JSONValue {
        .number(DecimalText.ratio(bytes, times: 8_000_000_000, over: UInt64(configuration.time.nanoseconds),
                                  fractionDigits: 3))
    }

    private static func time(_ t: SimTime?) -> JSONValue {
        guard let t else { return .null }
        return .number(DecimalText.fixed(t.nanoseconds, fractionDigits: 9))
    }

    /// `start.timestamp`: the test's start on the simulated clock, as iperf3 writes a time
    /// (RFC 1123, GMT) and its seconds.
    private static func timestamp(_ start: SimTime) -> JSONValue {
        let seconds = SimTime.epochSeconds + start.nanoseconds / 1_000_000_000
        return .object([("time", .string(HTTPDate.text(seconds))), ("timesecs", .int(seconds))])
    }

    /// `start.cookie`: iperf3 draws 36 characters of `abcdefghijklmnopqrstuvwxyz234567` at
    /// random; podwire derives them from the flow (FNV-1a of its addresses, ports and start),
    /// so the report stays the same run after run.
    private var cookie: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: UInt64) { for k in 0..<8 { h = (h ^ ((v >> (8 * k)) & 0xff)) &* 0x0000_0100_0000_01b3 } }
        mix(UInt64(clientAddress.rawValue)); mix(UInt64(clientPort)); mix(UInt64(configuration.server.rawValue))
        mix(UInt64(configuration.port)); mix(UInt64(bitPattern: configuration.start.nanoseconds))
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        return String((0..<36).map { _ in
            h = h &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return alphabet[Int(h >> 59)]
        })
    }

    public var json: JSONValue {
        let c = configuration
        let zero = JSONValue.int(0)
        let start: JSONValue = .object([
            ("connected", .array([.object([
                ("socket", .int(socket)),
                ("local_host", .string(clientAddress.description)), ("local_port", .int(clientPort)),
                ("remote_host", .string(c.server.description)), ("remote_port", .int(c.port)),
            ])])),
            ("version", .string("podwire iperf3-udp")),
            ("system_info", .string("podwire: emulated Linux network namespaces")),
            ("timestamp", Self.timestamp(c.start)),
            ("connecting_to", .object([("host", .string(c.server.description)), ("port", .int(c.port))])),
            ("cookie", .string(cookie)),
            ("target_bitrate", .int(c.bitrate)),
            ("sock_bufsize", zero), ("sndbuf_actual", .int(212_992)), ("rcvbuf_actual", .int(212_992)),
            ("test_start", .object([
                ("protocol", .string("UDP")), ("num_streams", .int(1)), ("blksize", .int(c.length)),
                ("omit", zero), ("duration", seconds), ("bytes", zero), ("blocks", zero), ("reverse", zero),
                ("tos", zero), ("target_bitrate", .int(c.bitrate)),
            ])),
        ])
        // iperf3's UDP summary fields, in its order; `out_of_order` only in the stream.
        func summary(bytes: UInt64, jitterNanoseconds: Double, lost: UInt64, packets: UInt64, outOfOrder: UInt64?,
                     sender: Bool) -> [(String, JSONValue)] {
            var fields: [(String, JSONValue)] = [
                ("start", zero), ("end", seconds), ("seconds", seconds),
                ("bytes", .int(bytes)), ("bits_per_second", bitsPerSecond(bytes)),
                ("jitter_ms", .number(DecimalText.double(jitterNanoseconds / 1e6, fractionDigits: 6))),
                ("lost_packets", .int(lost)), ("packets", .int(packets)),
                ("lost_percent", .number(DecimalText.ratio(lost, times: 100, over: packets, fractionDigits: 6))),
            ]
            if let outOfOrder { fields.append(("out_of_order", .int(outOfOrder))) }
            fields.append(("sender", .bool(sender)))
            return fields
        }
        let stream = summary(bytes: bytesSent, jitterNanoseconds: jitterNanoseconds, lost: lostPackets, packets: packets,
                             outOfOrder: outOfOrder, sender: true)
        let end: JSONValue = .object([
            ("streams", .array([.object([("udp", .object([("socket", .int(socket))] + stream))])])),
            ("sum", .object(summary(bytes: bytesSent, jitterNanoseconds: jitterNanoseconds, lost: lostPackets,
                                    packets: packets, outOfOrder: nil, sender: true))),
            ("sum_sent", .object(summary(bytes: bytesSent, jitterNanoseconds: 0, lost: 0, packets: packets,
                                         outOfOrder: nil, sender: true))),
            // The server's count of the stream's datagrams is the highest sequence it saw.
            ("sum_received", .object(summary(bytes: bytesReceived, jitterNanoseconds: jitterNanoseconds, lost: lostPackets,
                                             packets: highestSequence, outOfOrder: nil, sender: false))),
        ])
        let podwire: JSONValue = .object([
            ("name", .string(name)),
            ("start_time", Self.time(c.start)),
            ("datagrams_planned", c.isUnlimited ? .null : .int(c.datagramCount)),
            ("datagrams_sent", .int(datagramsSent)),
            ("send_errors", sendErrors.json),
            ("icmp_errors", icmpErrors.json),
            ("packets_received", .int(packetsReceived)),
            ("bytes_received", .int(bytesReceived)),
            ("unreceived_packets", .int(unreceivedPackets)),
            ("highest_sequence", .int(highestSequence)),
            ("first_arrival", Self.time(firstArrival)),
            ("last_arrival", Self.time(lastArrival)),
            ("one_way_delay_us", latency?.jsonMicroseconds ?? .null),
        ])
        // iperf3 -J's `intervals[]` on the client: one per second of `-t` (the last may be
        // shorter), each with the stream and the sum, sender side.
        let step = Iperf3Client.reportingInterval.nanoseconds
        let intervalsJSON: [JSONValue] = intervals.enumerated().map { k, interval in
            let from = Int64(k) * step, to = min(from + step, c.time.nanoseconds)
            let fields: [(String, JSONValue)] = [
                ("start", .number(DecimalText.fixed(from, fractionDigits: 9))),
                ("end", .number(DecimalText.fixed(to, fractionDigits: 9))),
                ("seconds", .number(DecimalText.fixed(to - from, fractionDigits: 9))),
                ("bytes", .int(interval.bytes)),
                ("bits_per_second", .number(DecimalText.ratio(interval.bytes, times: 8_000_000_000, over: UInt64(to - from),
                                                              fractionDigits: 3))),
                ("packets", .int(interval.packets)), ("omitted", .bool(false)), ("sender", .bool(true)),
            ]
            return .object([("streams", .array([.object([("socket", .int(socket))] + fields)])), ("sum", .object(fields))])
        }
        return .object([
            ("start", start),
            ("intervals", .array(intervalsJSON)),
            ("end", end),
            ("podwire", podwire),
        ])
    }

    /// The JSON document (two-space indented, final newline).
    public var jsonText: String { json.text() }

    /// One line for a terminal: "NAME: 10.244.0.2:40000 -> 10.244.0.3:5201 893/893 datagrams, …".
    public var summary: String {
        var s = "\(name): \(clientAddress):\(clientPort) -> \(configuration.server):\(configuration.port)"
        s += " received \(packetsReceived)/\(packets) datagrams, lost \(lostPackets)"
        s += " (\(DecimalText.ratio(lostPackets, times: 100, over: packets, fractionDigits: 2))%)"
        s += ", out-of-order \(outOfOrder), jitter \(DecimalText.double(jitterNanoseconds / 1e6, fractionDigits: 3)) ms"
        if let l = latency {
            s += ", one-way p50/p99/max \(DecimalText.fixed(l.p50, fractionDigits: 3))/"
            s += "\(DecimalText.fixed(l.p99, fractionDigits: 3))/\(DecimalText.fixed(l.max, fractionDigits: 3)) us"
        }
        if sendErrors.total > 0 { s += ", send errors \(sendErrors.total)" }
        // iperf3 counts as lost only the gaps before the last datagram received, so a flow
        // that lost its tail, or got nothing through, read "lost 0 (0%)" without this.
        if unreceivedPackets > lostPackets { s += ", never received \(unreceivedPackets)" }
        return s
    }
}
