import Datapath
import Engine
import Wire

/// `iperf3 -u -c SERVER -p PORT -b BITRATE -l LENGTH -t TIME`: paced UDP datagrams from an
/// ephemeral port.
///
/// * **Pacing.** Datagram n (n = 0, 1, …) leaves at `start + ⌊n × length × 8 × 10⁹ / bitrate⌋` ns,
///   computed from n each time in 128-bit integers, so rounding never accumulates.
///   `bitrate` is iperf3's `-b`: bits per second of UDP payload.
/// * **Count.** Every n whose send time is strictly before `start + time` is due:
///   `count = ⌈time × bitrate / (length × 8)⌉` (100 Mbit/s, 1400 B, 100 ms → ⌈892.86⌉ = 893).
///   iperf3 also sends its first datagram at once and stops when its end timer fires.
/// * **Unlimited** (`-b 0`). Every datagram is due at `start`: the sender sends back to back,
///   held by its core (below) and its send buffer, until `start + time`. A sender in a pod
///   is held by its core alone: the node's `ip_rcv` orphans the pod's packets (`skb_orphan`
///   in `ip_rcv_core`), so its `SO_SNDBUF` never fills and what its node's NIC cannot carry
///   is dropped at the qdisc. A sender in a node's own namespace keeps its send buffer
///   charged until the NIC takes each frame, so it blocks in front of a full queue and is
///   held to the wire (World+SendBuffer.swift). A plain host has no CPU model, and nothing
///   but its buffer would pace it, so it needs a bitrate.
/// * **Send buffer.** A datagram due while the socket's send buffer is full waits until it is
///   back under half (`sock_def_write_space`), as a blocking `sendmsg` does.
/// * **Blocking.** `sendmsg` returns only once the sender's core has done the datagram's
///   process-context work (NodeCPU.swift), so a datagram due while the core is still busy
///   waits for it, and a sender behind its schedule then sends back to back, as iperf3 does
///   to catch up its average rate. At `start + time` the test ends: datagrams still due are
///   not sent. So a sender its CPU cannot keep at `-b` sends fewer datagrams than due and
///   loses none at its own core; its receiver counts only the ones sent.
/// * **Payload.** `Iperf3DatagramHeader` (send time, sequence from 1), then filler from a
///   buffer filled once at start from a seeded stream (iperf3 fills its buffer with random
///   bytes). Each send is one copy of that buffer plus the 12-byte header, written in place
///   into the packet; nothing is allocated per datagram.
/// * **Errors.** A failed send still uses its sequence number (iperf3 increments
///   `packet_count` before writing), so the server sees a gap; errors are counted by kind.
///   ICMP errors coming back (e.g. port unreachable) are counted by type/code; iperf3 would
///   abort on the resulting ECONNREFUSED, podwire keeps sending so the loss stays visible.

public struct Iperf3ClientConfiguration: Sendable, Hashable {
    public var server: IPv4Address
    /// `-p`: iperf3's default port.
    public var port: UInt16
    /// `-b`, bits per second of UDP payload (iperf3's UDP default: 1 Mbit/s); 0 is
    /// unlimited (`isUnlimited`).
    public var bitrate: UInt64
    /// `-l`, UDP payload bytes per datagram (header included).
    public var length: Int
    /// `-t`.
    public var time: SimDuration
    /// When the test starts (simulated time).
    public var start: SimTime

    public init(server: IPv4Address, port: UInt16 = 5201, bitrate: UInt64 = 1_000_000, length: Int = 1460,
                time: SimDuration = .seconds(10), start: SimTime = .zero) {
        self.server = server
        self.port = port
        self.bitrate = bitrate
        self.length = length
        self.time = time
        self.start = start
    }

    /// 1 Tbit/s: bounds the 128-bit pacing arithmetic.
    public static let maximumBitrate: UInt64 = 1_000_000_000_000

    /// The largest UDP payload over IPv4 (65535 − 20 − 8).
    public static let maximumLength = 65_507

    /// `-b 0`: send back to back, as fast as the sender's core allows.
    public var isUnlimited: Bool { bitrate == 0 }

    /// Datagrams the test sends: ⌈time × bitrate / (length × 8)⌉; unlimited: `UInt64.max`
    /// (the test time ends it).
    public var datagramCount: UInt64 {
        if isUnlimited { return .max }
        let perDatagram = UInt64(length) * 8 * 1_000_000_000   // bit·ns per datagram
        let p = UInt64(time.nanoseconds).multipliedFullWidth(by: bitrate)
        let (q, r) = perDatagram.dividingFullWidth((p.high, p.low))
        return r == 0 ? q : q + 1
    }

    /// Offset from `start` of datagram `n` (0-based): ⌊n × length × 8 × 10⁹ / bitrate⌋ ns.
    @inline(__always)
    public func sendOffset(_ n: UInt64) -> SimDuration {
        if isUnlimited { return .zero }
        let p = n.multipliedFullWidth(by: UInt64(length) * 8 * 1_000_000_000)
        let (q, _) = bitrate.dividingFullWidth((p.high, p.low))
        return .nanoseconds(Int64(q))
    }

    /// Why a configuration cannot run, as iperf3 would refuse it.
    public func validate() throws(Iperf3ConfigurationError) {
        guard bitrate <= Self.maximumBitrate else { throw .bitrateTooHigh(bitrate) }
        guard length >= Iperf3DatagramHeader.length else { throw .lengthTooSmall(length) }
        guard length <= Self.maximumLength else { throw .lengthTooLarge(length) }
        guard time.nanoseconds > 0 else { throw .nonPositiveTime(time) }
        // Keeps every send offset (and the 128-bit quotients above) within Int64.
        guard time.nanoseconds <= 1_000_000 * 1_000_000_000 else { throw .timeTooLong(time) }
    }
}

/// One reporting interval of a client's sending (`iperf3 -J`'s `intervals[]`, sender side).
public struct Iperf3Interval: Sendable, Equatable {
    public var bytes: UInt64 = 0
    public var packets: UInt64 = 0
}

public enum Iperf3ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `-b 0` (unlimited) from a namespace without a CPU model (a plain host, or a pod of a
    /// node without a profile): nothing would pace its sends. See `Iperf3Client` "Unlimited".
    case unlimitedBitrate(NamespaceKind)
    case bitrateTooHigh(UInt64)
    /// iperf3: "block size too small" (the header needs 12 bytes).
    case lengthTooSmall(Int)
    case lengthTooLarge(Int)
    case nonPositiveTime(SimDuration)
    case timeTooLong(SimDuration)
    case socket(SocketOpenError)

    public var description: String {
        switch self {
        case .unlimitedBitrate(.pod):
            "bitrate 0 (unlimited) needs the sender's node to have a CPU model (nothing else would hold the sender back): give -b"
        case .unlimitedBitrate(let kind):
            "bitrate 0 (unlimited) needs a sender with a CPU model (this sender is in a \(kind.rawValue)'s namespace, which has none): give -b"
        case .bitrateTooHigh(let b): "bitrate \(b) bit/s exceeds 1 Tbit/s"
        case .lengthTooSmall(let l): "datagram length \(l) is smaller than the 12-byte iperf3 header"
        case .lengthTooLarge(let l): "datagram length \(l) exceeds the IPv4 UDP maximum 65507"
        case .nonPositiveTime(let t): "test time \(t) must be positive"
        case .timeTooLong(let t): "test time \(t) exceeds 1000000 s"
        case .socket(let e): "cannot open socket: \(e)"
        }
    }
}

/// Failed sends by `SendError` kind.
public struct SendErrorCounts: Sendable, Equatable {
    public var networkUnreachable: UInt64 = 0
    public var messageTooLong: UInt64 = 0
    public init() {}
    public var total: UInt64 { networkUnreachable + messageTooLong }

    @inline(__always) public mutating func count(_ e: SendError) {
        switch e {
        case .networkUnreachable: networkUnreachable += 1
        case .messageTooLong: messageTooLong += 1
        }
    }

    public var json: JSONValue {
        .object([("network_unreachable", .int(networkUnreachable)), ("message_too_long", .int(messageTooLong))])
    }
}

/// ICMP messages counted by (type, code), kept sorted so reports are ordered.
public struct ICMPMessageCounts: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var type: UInt8
        public var code: UInt8
        public var count: UInt64
    }
    public private(set) var entries: [Entry] = []
    public init() {}
    public var total: UInt64 { entries.reduce(0) { $0 + $1.count } }

    public func count(type: ICMPv4Type, code: UInt8) -> UInt64 {
        entries.first { $0.type == type.rawValue && $0.code == code }?.count ?? 0
    }

    public mutating func add(type: ICMPv4Type, code: UInt8) {
        for i in entries.indices where entries[i].type == type.rawValue && entries[i].code == code {
            entries[i].count += 1
            return
        }
        let at = entries.firstIndex { ($0.type, $0.code) > (type.rawValue, code) } ?? entries.count
        entries.insert(Entry(type: type.rawValue, code: code, count: 1), at: at)
    }

    public var json: JSONValue {
        .array(entries.map { .object([("type", .int($0.type)), ("code", .int($0.code)), ("count", .int($0.count))]) })
    }
}

public final class Iperf3Client: NetworkApplication {
    public let name: String
    public let namespace: NamespaceID
    public let configuration: Iperf3ClientConfiguration
    /// Set once, in `init` (after `self` exists, so the world can hold it).
    private var handles: (app: AppID, socket: SocketID)?
    public var app: AppID { handles!.app }
    public var socket: SocketID { handles!.socket }
    /// The ephemeral port the kernel picked.
    public private(set) var localPort: UInt16 = 0
    /// Datagrams due in the test (`configuration.datagramCount`).
    public let plannedDatagrams: UInt64
    /// Sequence numbers used: datagrams attempted (iperf3's sender `packet_count`).
    public private(set) var datagrams: UInt64 = 0
    /// Datagrams the socket accepted, and their payload bytes (iperf3's `bytes_sent`).
    public private(set) var datagramsSent: UInt64 = 0
    public private(set) var bytesSent: UInt64 = 0
    public private(set) var sendErrors = SendErrorCounts()
    /// ICMP errors delivered to the socket (port unreachable …).
    public private(set) var icmpErrors = ICMPMessageCounts()
    /// What the socket accepted in each second of the test (iperf3's default `-i 1`
    /// reporting interval), from `configuration.start`: payload bytes and datagrams.
    public private(set) var intervals: [Iperf3Interval] = []
    /// iperf3's reporting interval.
    public static let reportingInterval = SimDuration.seconds(1)
    /// Simulated time of the first and last attempted send.
    public private(set) var firstSend: SimTime?
    public private(set) var lastSend: SimTime?

    /// Blocked in `sendmsg`: waiting for the core since the last send.
    private var waiting = false

    /// The filler: `length` seeded random bytes, made once.
    private let filler: UnsafeMutableRawBufferPointer

    /// Opens the socket and schedules the first datagram at `configuration.start` (or now, if
    /// that has passed). The filler comes from the world's stream "iperf3/NAME".
    public init(name: String, world: World, namespace: NamespaceID,
                configuration: Iperf3ClientConfiguration) throws(Iperf3ConfigurationError) {
        try configuration.validate()
        if configuration.isUnlimited, !world.hasCPU(namespace) {
            throw .unlimitedBitrate(world.namespace(namespace).kind)
        }
        self.name = name
        self.namespace = namespace
        self.configuration = configuration
        plannedDatagrams = configuration.datagramCount
        filler = .allocate(byteCount: configuration.length, alignment: 8)
        var random = world.random.stream("iperf3/\(name)")
        var i = 0
        while i < filler.count {
            var word = random.next()
            withUnsafeBytes(of: &word) { w in
                for b in w where i < filler.count { filler[i] = b; i += 1 }
            }
        }
        let app = world.register(self)
        do throws(SocketOpenError) {
            handles = (app, try world.openUDP(in: namespace, port: nil, app: app))
        } catch {
            throw .socket(error)
        }
        localPort = world.localPort(of: socket)
        let delay = configuration.start - world.now
        world.scheduleTimer(app, tag: 0, after: delay.nanoseconds > 0 ? delay : .zero)
    }

    deinit { filler.deallocate() }

    /// The source address the client's datagrams carry (the route's preferred source).
    public func sourceAddress(in world: World) -> IPv4Address? {
        world.sourceAddress(namespace, to: configuration.server)
    }

    /// Sends the datagrams due by now while the core is free, then arms the timer for the
    /// next one, or waits for the core. `tag` is the index of the datagram the timer was set for.
    public func timerFired(_ world: World, tag: UInt64) {
        let start = configuration.start
        let end = start + configuration.time
        while datagrams < plannedDatagrams && world.now < end {
            let due = start + configuration.sendOffset(datagrams)
            if due > world.now {
                world.scheduleTimer(app, tag: datagrams, after: due - world.now)
                return
            }
            if world.applicationCoreIsBusy(namespace, app: app) {
                world.waitForApplicationCore(namespace, app: app, tag: datagrams, keepingTurn: waiting)
                waiting = true
                return
            }
            waiting = false
            // A full send buffer blocks `sendmsg` (a node's own socket, its datagrams still in
            // the NIC's queue): wait until it is half empty.
            if !world.hasSendBufferRoom(socket) {
                world.waitForSendBufferRoom(socket, tag: datagrams)
                return
            }
            send(world)
            if configuration.isUnlimited && !world.applicationCoreIsBusy(namespace, app: app) {
                // The send left no work on the core — its datagram waits for ARP, or it
                // failed — but the syscall still took its time: without this an unlimited
                // sender would loop at one instant.
                world.scheduleTimer(app, tag: datagrams, after: world.namespace(namespace).costs.localOutput)
                return
            }
        }
    }

    @inline(__always) private func send(_ world: World) {
        datagrams += 1
        let header = Iperf3DatagramHeader(sendTime: world.now, sequence: UInt32(truncatingIfNeeded: datagrams))
        let length = configuration.length
        let filler = UnsafeRawBufferPointer(self.filler)
        if firstSend == nil { firstSend = world.now }
        lastSend = world.now
        do throws(SendError) {
            try world.sendUDP(socket, to: configuration.server, port: configuration.port, payloadLength: length) { b in
                b.copyMemory(from: filler)
                header.emit(into: b)
            }
            datagramsSent += 1
            bytesSent += UInt64(length)
            let k = Int((world.now - configuration.start).nanoseconds / Self.reportingInterval.nanoseconds)
            while intervals.count <= k { intervals.append(Iperf3Interval()) }
            intervals[k].bytes += UInt64(length)
            intervals[k].packets += 1
        } catch {
            sendErrors.count(error)
        }
    }

    public func icmpReceived(_ world: World, socket: SocketID, message: ReceivedICMP) {
        icmpErrors.add(type: message.type, code: message.code)
    }
}
