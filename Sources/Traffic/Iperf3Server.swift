import Datapath
import Engine
import Wire

/// `iperf3 -s -p PORT` for UDP tests: one socket bound to the port, receive-side statistics
/// per sender (source address and port), computed as iperf3's `iperf_udp_recv` does.
///
/// Real iperf3 sets a test up over a TCP control connection (cookie, parameters, results
/// exchange). podwire does not model TCP, so there is no control channel: the scenario
/// wires a client to its server (`TrafficRun`), the server accepts datagrams from any
/// sender, and the report joins the client's send counters with the server's stream.

/// What the server knows about one sender, with iperf3's rules (src/iperf_udp.c):
///
/// * **Forward** (`sequence ≥ highest + 1`): a gap (`sequence > highest + 1`) adds
///   `sequence − highest − 1` to `lost`; `highest` becomes `sequence`.
/// * **Backward or repeated** (`sequence ≤ highest`): `outOfOrder += 1`, and if `lost > 0`
///   it is decremented (the late datagram fills a gap counted before).
///   So without duplicates `lost == highest − packets`: datagrams after the highest one
///   received (tail loss) are not lost by this rule, exactly as in iperf3.
/// * **Jitter** (RFC 1889 §6.3.1/A.8): `transit = arrival − send time` from the header;
///   for the first datagram `previousTransit = transit`; then
///   `jitter += (|transit − previousTransit| − jitter) / 16`.
public struct Iperf3StreamStatistics: Sendable {
    public let source: IPv4Address
    public let sourcePort: UInt16
    /// Datagrams received (iperf3 counts every one, duplicates included).
    public private(set) var packets: UInt64 = 0
    /// UDP payload bytes received (iperf3's `bytes_received`).
    public private(set) var bytes: UInt64 = 0
    /// The highest sequence number seen (iperf3's receive-side `packet_count`).
    public private(set) var highestSequence: UInt64 = 0
    /// iperf3's `cnt_error`.
    public private(set) var lost: UInt64 = 0
    /// iperf3's `outoforder_packets`.
    public private(set) var outOfOrder: UInt64 = 0
    /// Smoothed jitter in nanoseconds.
    public private(set) var jitterNanoseconds: Double = 0
    public private(set) var previousTransit: SimDuration = .zero
    public private(set) var firstArrival: SimTime = .zero
    public private(set) var lastArrival: SimTime = .zero
    /// One-way delay (arrival − send time in the header).
    public private(set) var latency = LatencyRecorder()

    public init(source: IPv4Address, sourcePort: UInt16) {
        self.source = source
        self.sourcePort = sourcePort
    }

    /// Accounts for one datagram of `bytes` payload bytes carrying `header`, arriving at `arrival`.
    @inline(__always)
    public mutating func record(_ header: Iperf3DatagramHeader, bytes count: Int, arrival: SimTime) {
        let sequence = UInt64(header.sequence)
        if packets == 0 { firstArrival = arrival }
        lastArrival = arrival
        bytes += UInt64(count)
        if sequence >= highestSequence + 1 {
            if sequence > highestSequence + 1 { lost += sequence - 1 - highestSequence }
            highestSequence = sequence
        } else {
            outOfOrder += 1
            if lost > 0 { lost -= 1 }
        }
        let transit = arrival - header.sendTime
        if packets == 0 { previousTransit = transit }
        let d = Double(abs(transit.nanoseconds - previousTransit.nanoseconds))
        previousTransit = transit
        jitterNanoseconds += (d - jitterNanoseconds) / 16
        packets += 1
        latency.record(transit)
    }
}

public final class Iperf3Server: NetworkApplication {
    public let name: String
    public let namespace: NamespaceID
    public let port: UInt16
    /// Set once, in `init` (after `self` exists, so the world can hold it).
    private var handles: (app: AppID, socket: SocketID)?
    public var app: AppID { handles!.app }
    public var socket: SocketID { handles!.socket }
    /// Per sender, in order of their first datagram.
    public private(set) var streams: [Iperf3StreamStatistics] = []
    /// Datagrams too short for the iperf3 header (not counted in any stream).
    public private(set) var runtDatagrams: UInt64 = 0

    /// Opens the listening socket now (`iperf3 -s` runs from the start of the scenario).
    public init(name: String, world: World, namespace: NamespaceID, port: UInt16 = 5201) throws(SocketOpenError) {
        self.name = name
        self.namespace = namespace
        self.port = port
        let app = world.register(self)
        handles = (app, try world.openUDP(in: namespace, port: port, app: app))
    }

    /// The statistics of the stream from `source`:`sourcePort`, if any datagram came.
    public func stream(from source: IPv4Address, port sourcePort: UInt16) -> Iperf3StreamStatistics? {
        streams.first { $0.source == source && $0.sourcePort == sourcePort }
    }

    public func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
        guard let header = Iperf3DatagramHeader(parsing: datagram.payload) else {
            runtDatagrams += 1
            return
        }
        let i = streamIndex(datagram.source, datagram.sourcePort)
        streams[i].record(header, bytes: datagram.payload.count, arrival: world.now)
    }

    @inline(__always) private func streamIndex(_ source: IPv4Address, _ port: UInt16) -> Int {
        for i in streams.indices where streams[i].sourcePort == port && streams[i].source == source { return i }
        return newStream(source, port)
    }

    /// Once per sender: the only allocation on the receive path.
    @inline(never) private func newStream(_ source: IPv4Address, _ port: UInt16) -> Int {
        streams.append(Iperf3StreamStatistics(source: source, sourcePort: port))
        return streams.count - 1
    }
}
