import Datapath
import Engine
import Wire

/// A bounded UDP request/echo exchange, like the kernel reference's `udp_tool.py`: the
/// client sends `count` datagrams from one socket, `interval` apart, each beginning
/// `podwire|seq=N|` and padded with '.'; the server sends every datagram straight back from
/// its port. The client records each echo's round-trip time.
///
/// A datagram shorter than its tag carries the tag cut short (`length: 8` sends `podwire|`),
/// so its echo cannot name its sequence number: it is matched to the oldest unanswered
/// datagram with the same bytes, as an echo over an in-order path would be.

public struct UDPEchoConfiguration: Sendable, Equatable {
    public var server: IPv4Address
    public var port: UInt16
    public var count: Int
    public var interval: SimDuration
    public var length: Int
    /// When the first datagram leaves.
    public var start: SimTime
    /// `IP_PMTUDISC_DO` on the client socket: a datagram over the path MTU fails with EMSGSIZE
    /// instead of being fragmented (the kernel reference's f0/f1 sockets).
    public var dontFragment: Bool

    public init(server: IPv4Address, port: UInt16 = 8080, count: Int = 3, interval: SimDuration = .milliseconds(50),
                length: Int = 64, start: SimTime = .zero, dontFragment: Bool = false) {
        self.dontFragment = dontFragment
        self.server = server
        self.port = port
        self.count = count
        self.interval = interval
        self.length = length
        self.start = start
    }
}

/// Echoes every datagram back to its sender.
public final class UDPEchoServer: NetworkApplication {
    public let name: String
    public let port: UInt16
    /// Datagrams echoed, from every sender.
    public private(set) var echoed = 0
    /// Datagrams echoed per sender as this server saw it (address and port after any NAT),
    /// in the order senders first appeared: one entry per sender, no allocation per datagram.
    public private(set) var echoedBySender: [(address: IPv4Address, port: UInt16, count: Int)] = []

    public init(name: String, world: World, namespace: NamespaceID, port: UInt16) throws(SocketOpenError) {
        self.name = name
        self.port = port
        _ = try world.openUDP(in: namespace, port: port, app: world.register(self))
    }

    /// How many datagrams from `address`:`port` this server echoed.
    public func echoed(from address: IPv4Address, port: UInt16) -> Int {
        echoedBySender.first { $0.address == address && $0.port == port }?.count ?? 0
    }

    public func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
        echoed += 1
        if let i = echoedBySender.firstIndex(where: { $0.address == datagram.source && $0.port == datagram.sourcePort }) {
            echoedBySender[i].count += 1
        } else {
            echoedBySender.append((datagram.source, datagram.sourcePort, 1))
        }
        try? world.sendUDP(socket, to: datagram.source, port: datagram.sourcePort,
                           payloadLength: datagram.payload.count) { $0.copyMemory(from: datagram.payload) }
    }
}

public final class UDPEchoClient: NetworkApplication {
    public let name: String
    public let configuration: UDPEchoConfiguration
    public private(set) var sent = 0
    public private(set) var sendErrors: [SendError] = []
    /// Round-trip time of each echo, by sequence (1-based), nil until it came back.
    public private(set) var roundTrips: [SimDuration?]
    public private(set) var icmpErrors: [(type: UInt8, code: UInt8)] = []
    public private(set) var localPort: UInt16 = 0
    public let namespace: NamespaceID
    private var sendTimes: [SimTime]
    /// Every datagram before this index has been answered (where matching a cut tag starts).
    private var firstUnanswered = 0
    private var app = AppID(rawValue: -1)
    private var socket = SocketID(rawValue: -1)

    public init(name: String, world: World, namespace: NamespaceID, configuration: UDPEchoConfiguration) throws(SocketOpenError) {
        self.name = name
        self.configuration = configuration
        self.namespace = namespace
        roundTrips = Array(repeating: nil, count: configuration.count)
        sendTimes = Array(repeating: .zero, count: configuration.count)
        app = world.register(self)
        socket = try world.openUDP(in: namespace, port: nil, app: app)
        world.setDontFragment(socket, configuration.dontFragment)
        localPort = world.localPort(of: socket)
        world.scheduleTimer(app, tag: 0, after: configuration.start - world.now)
    }

    public var received: Int { roundTrips.count { $0 != nil } }

    /// The address the client's datagrams leave from (its route's preferred source).
    public func sourceAddress(in world: World) -> IPv4Address? {
        world.sourceAddress(namespace, to: configuration.server)
    }

    /// Datagram `seq`'s tag, `podwire|seq=N|`.
    static func tag(_ seq: Int) -> [UInt8] { Array("podwire|seq=\(seq)|".utf8) }

    public func timerFired(_ world: World, tag: UInt64) {
        let seq = sent + 1
        let head = Self.tag(seq)
        sendTimes[sent] = world.now
        do throws(SendError) {
            try world.sendUDP(socket, to: configuration.server, port: configuration.port,
                              payloadLength: configuration.length) { p in
                for i in 0..<p.count { p[i] = i < head.count ? head[i] : UInt8(ascii: ".") }
            }
        } catch {
            sendErrors.append(error)
        }
        sent += 1
        if sent < configuration.count {
            world.scheduleTimer(app, tag: 0, after: configuration.interval)
        }
    }

    public func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
        let p = datagram.payload
        guard p.count == configuration.length else { return }
        let seq: Int
        if let whole = Self.wholeTagSequence(p) {
            seq = whole
        } else if let cut = oldestUnanswered(sentAs: p) {
            seq = cut
        } else {
            return
        }
        guard seq >= 1, seq <= sent, roundTrips[seq - 1] == nil else { return }
        roundTrips[seq - 1] = world.now - sendTimes[seq - 1]
    }

    /// N when the payload holds a whole tag `podwire|seq=N|`.
    static func wholeTagSequence(_ p: UnsafeRawBufferPointer) -> Int? {
        let prefix = "podwire|seq=".utf8
        guard p.count > prefix.count, p.prefix(prefix.count).elementsEqual(prefix) else { return nil }
        var seq = 0
        for b in p.dropFirst(prefix.count) {
            if b == UInt8(ascii: "|") { return seq }
            guard b >= 0x30 && b <= 0x39, seq < Int.max / 10 else { return nil }
            seq = seq * 10 + Int(b - 0x30)
        }
        return nil  // cut before its closing '|'
    }

    /// The oldest sent, unanswered datagram whose bytes are `p` (its tag cut to the length).
    private func oldestUnanswered(sentAs p: UnsafeRawBufferPointer) -> Int? {
        while firstUnanswered < sent && roundTrips[firstUnanswered] != nil { firstUnanswered += 1 }
        for i in firstUnanswered..<sent where roundTrips[i] == nil {
            let head = Self.tag(i + 1)
            if p.indices.allSatisfy({ p[$0] == ($0 < head.count ? head[$0] : UInt8(ascii: ".")) }) { return i + 1 }
        }
        return nil
    }

    public func icmpReceived(_ world: World, socket: SocketID, message: ReceivedICMP) {
        icmpErrors.append((message.type.rawValue, message.code))
    }
}

public struct UDPEchoReport: Sendable, Equatable {
    public var name: String
    public var json: JSONValue
    public var summary: String

    public init(client c: UDPEchoClient, server: UDPEchoServer?) {
        self.init(client: c, servers: server.map { [$0] } ?? [], world: nil)
    }

    /// `servers`: the one server, or every endpoint's behind a Service. `echoed_by_server`
    /// counts this client's datagrams that reached a server and were echoed, found by the
    /// source the server saw (the client's, or after SNAT the one conntrack gave it; with
    /// `world` nil only the client's own).
    public init(client c: UDPEchoClient, servers: [UDPEchoServer], world: World?) {
        name = c.name
        let rtts = c.roundTrips.compactMap { $0?.nanoseconds }
        func us(_ ns: Int64) -> JSONValue { .number(DecimalText.fixed(ns, fractionDigits: 3)) }
        let minRTT = rtts.min(), maxRTT = rtts.max()
        let avgRTT = rtts.isEmpty ? nil : rtts.reduce(0, +) / Int64(rtts.count)
        json = .object([
            ("name", .string(c.name)),
            ("server", .string("\(c.configuration.server):\(c.configuration.port)")),
            ("sent", .int(c.sent)),
            ("received", .int(c.received)),
            ("echoed_by_server", servers.isEmpty ? .null : .int(Self.echoedByServers(c, servers, world))),
            ("send_errors", .array(c.sendErrors.map { .string($0.description) })),
            ("icmp_errors", .array(c.icmpErrors.map { .string("type \($0.type) code \($0.code)") })),
            ("rtt_us", rtts.isEmpty ? .null : .object([
                ("min", us(minRTT!)), ("avg", us(avgRTT!)), ("max", us(maxRTT!)),
            ])),
            ("rtt_us_each", .array(c.roundTrips.map { $0.map { us($0.nanoseconds) } ?? .null })),
        ])
        var s = "\(c.sent) datagram\(c.sent == 1 ? "" : "s") of \(c.configuration.length) B sent, \(c.received) echoed"
        if let minRTT, let maxRTT, let avgRTT {
            // In microseconds, exact to the nanosecond, as the JSON's rtt_us and the iperf3
            // lines' one-way latency: in-cluster round trips are a few µs, which "ms" with
            // ping's 3 decimals would show as 0.006 (ping's own lines keep ping's format).
            s += ", rtt min/avg/max = \(DecimalText.fixed(minRTT, fractionDigits: 3))/"
                + "\(DecimalText.fixed(avgRTT, fractionDigits: 3))/\(DecimalText.fixed(maxRTT, fractionDigits: 3)) us"
        }
        if !c.icmpErrors.isEmpty { s += ", \(c.icmpErrors.count) ICMP error(s)" }
        if !c.sendErrors.isEmpty { s += ", \(c.sendErrors.count) send error(s): \(c.sendErrors[0])" }
        summary = s
    }

    /// This client's datagrams the servers echoed: each server's count for the sources it
    /// may have seen the client as (its own address and port, and any SNAT of the flow).
    static func echoedByServers(_ c: UDPEchoClient, _ servers: [UDPEchoServer], _ world: World?) -> Int {
        var sources: [(address: IPv4Address, port: UInt16)] = []
        if let world, let address = c.sourceAddress(in: world) {
            let lastSend = c.configuration.start + c.configuration.interval * Int64(max(c.configuration.count - 1, 0))
            sources = world.receiverSources(ofUDPFrom: address, port: c.localPort, to: c.configuration.server,
                                            port: c.configuration.port, at: lastSend)
        }
        return servers.reduce(0) { total, server in
            total + sources.reduce(0) { $0 + server.echoed(from: $1.address, port: $1.port) }
        }
    }
}
