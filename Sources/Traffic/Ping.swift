import Datapath
import Engine
import Wire

/// `ping -c COUNT -i INTERVAL -s SIZE DEST` (iputils) on a ping socket.
///
/// * **Payload**, as iputils writes it: data byte i is `i & 0xff`, and when `size ≥ 16` the
///   first 16 bytes are a `struct timeval` of the send time (8-byte seconds, 8-byte
///   microseconds, little-endian as on x86-64/arm64 Linux). Sequence numbers start at 1.
///   The data pattern is made once; each send copies it and writes the timeval in place.
/// * **RTT.** Replies are matched by sequence. Like iputils, the reported RTT is in whole
///   microseconds: receive time (µs) − the timeval echoed back in the reply, so it needs
///   `size ≥ 16` (otherwise no times are printed, as in iputils). The exact RTT in
///   nanoseconds (receive − send, simulated) goes to an HdrHistogram for percentiles.
///   Duplicates are counted and enter iputils' sums, not the histogram.
/// * **Errors.** ICMP errors quoting one of our requests (host unreachable after the
///   neighbour fails, TTL exceeded …) count as iputils' `nerrors` and by type/code. A send
///   that fails locally counts as transmitted and as an error ("pretend we sent packet").
/// * **Exit**, as iputils' main loop: when received + errors ≥ count, or — armed at the last
///   send — after `2 × max RTT` (at least the interval) if anything was received, else after
///   the linger time (`-W`, 10 s). The summary's "time" runs from the first send to the exit.

public struct PingConfiguration: Sendable, Hashable {
    public var destination: IPv4Address
    /// `-c`.
    public var count: Int
    /// `-i` (iputils' default 1 s).
    public var interval: SimDuration
    /// `-s`: ICMP data bytes (default 56).
    public var size: Int
    /// When the first request is sent.
    public var start: SimTime
    /// `-W`: how long to wait for replies after the last request when none came (10 s).
    public var linger: SimDuration

    public init(destination: IPv4Address, count: Int = 3, interval: SimDuration = .seconds(1), size: Int = 56,
                start: SimTime = .zero, linger: SimDuration = .seconds(10)) {
        self.destination = destination
        self.count = count
        self.interval = interval
        self.size = size
        self.start = start
        self.linger = linger
    }

    /// The size of iputils' timestamp (`struct timeval` on 64-bit Linux).
    public static let timestampLength = 16
    /// 65535 − 20 (IPv4) − 8 (ICMP), iputils' limit for `-s`.
    public static let maximumSize = 65_507

    public var hasTiming: Bool { size >= Self.timestampLength }

    public func validate() throws(PingConfigurationError) {
        guard count > 0 else { throw .badCount(count) }
        guard size >= 0 && size <= Self.maximumSize else { throw .badSize(size) }
        guard interval.nanoseconds > 0 else { throw .badInterval(interval) }
    }
}

public enum PingConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case badCount(Int)
    case badSize(Int)
    case badInterval(SimDuration)

    public var description: String {
        switch self {
        case .badCount(let c): "ping count \(c) must be at least 1"
        case .badSize(let s): "ping size \(s) must be in 0...65507"
        case .badInterval(let i): "ping interval \(i) must be positive"
        }
    }
}

/// An echo reply as ping prints it.
public struct PingReply: Sendable, Equatable {
    public var sequence: UInt16
    public var from: IPv4Address
    /// ICMP bytes (8 + data), as in "64 bytes from …".
    public var bytes: Int
    public var ttl: UInt8
    /// iputils' RTT in whole microseconds (nil without timing).
    public var rttMicroseconds: Int64?
    /// Exact simulated RTT.
    public var rtt: SimDuration
    public var duplicate: Bool
    public var time: SimTime
}

/// An ICMP error about one of our requests.
public struct PingErrorMessage: Sendable, Equatable {
    public var sequence: UInt16
    public var from: IPv4Address
    public var type: UInt8
    public var code: UInt8
    public var time: SimTime
}

/// What ping printed per response, in order.
public enum PingEvent: Sendable, Equatable {
    case reply(PingReply)
    case error(PingErrorMessage)
    /// `sendmsg` failed locally.
    case sendFailed(sequence: UInt16, error: SendError, time: SimTime)
}

public final class Ping: NetworkApplication {
    public let name: String
    public let namespace: NamespaceID
    public let configuration: PingConfiguration
    /// Set once, in `init` (after `self` exists, so the world can hold it).
    private var handles: (app: AppID, socket: SocketID)?
    public var app: AppID { handles!.app }
    public var socket: SocketID { handles!.socket }
    /// The echo identifier (the ping socket's "port").
    public private(set) var identifier: UInt16 = 0

    public private(set) var transmitted = 0
    public private(set) var received = 0
    public private(set) var duplicates = 0
    public private(set) var errors = 0
    public private(set) var sendErrors = SendErrorCounts()
    public private(set) var icmpErrors = ICMPMessageCounts()
    public private(set) var events: [PingEvent] = []
    /// iputils' sums over replies (duplicates included), in microseconds.
    public private(set) var tsum: Int64 = 0
    public private(set) var tsum2: Int64 = 0
    public private(set) var tmin: Int64 = .max
    public private(set) var tmax: Int64 = 0
    public private(set) var rttHistogram = LatencyRecorder()
    public private(set) var firstSend: SimTime?
    /// When ping exited (nil while it is still running).
    public private(set) var finishedAt: SimTime?
    /// When the last request was sent (iputils' `cur_time`, which only `pinger` sets: its
    /// "time" ends there, not at the last reply or at exit).
    public private(set) var lastSend: SimTime?
    /// iputils' `pipesize`: the most requests that were out when one was answered (a reply
    /// or an ICMP error about it, `acknowledge`); -1 until one is.
    public private(set) var pipesize = -1

    private var sendTimes: [SimTime]
    private var replied: [Bool]
    private let pattern: UnsafeMutableRawBufferPointer

    private enum Tag: UInt64 { case send = 0, exit = 1 }

    /// Opens the ping socket and schedules the first request at `configuration.start`.
    public init(name: String, world: World, namespace: NamespaceID,
                configuration: PingConfiguration) throws(PingConfigurationError) {
        try configuration.validate()
        self.name = name
        self.namespace = namespace
        self.configuration = configuration
        sendTimes = [SimTime](repeating: .zero, count: configuration.count)
        replied = [Bool](repeating: false, count: configuration.count)
        events.reserveCapacity(2 * configuration.count)
        pattern = .allocate(byteCount: max(configuration.size, 1), alignment: 8)
        for i in 0..<pattern.count { pattern[i] = UInt8(truncatingIfNeeded: i) }
        let app = world.register(self)
        handles = (app, world.openICMPEcho(in: namespace, app: app))
        identifier = world.localPort(of: socket)
        let delay = configuration.start - world.now
        world.scheduleTimer(app, tag: Tag.send.rawValue, after: delay.nanoseconds > 0 ? delay : .zero)
    }

    deinit { pattern.deallocate() }

    public var isFinished: Bool { finishedAt != nil }

    public func timerFired(_ world: World, tag: UInt64) {
        guard finishedAt == nil else { return }
        switch Tag(rawValue: tag) {
        case .send: send(world)
        case .exit: finish(world.now)
        case nil: break
        }
    }

    private func send(_ world: World) {
        let now = world.now
        let index = transmitted
        let sequence = UInt16(truncatingIfNeeded: index + 1)
        if firstSend == nil { firstSend = now }
        let size = configuration.size
        let timing = configuration.hasTiming
        let pattern = UnsafeRawBufferPointer(self.pattern)
        do throws(SendError) {
            try world.sendEchoRequest(socket, to: configuration.destination, sequence: sequence,
                                      payloadLength: size) { b in
                b.copyMemory(from: UnsafeRawBufferPointer(rebasing: pattern[0..<size]))
                if timing { Self.emitTimeval(now, into: b) }
            }
        } catch {
            // iputils: "Hard local error. Pretend we sent packet."
            sendErrors.count(error)
            errors += 1
            events.append(.sendFailed(sequence: sequence, error: error, time: now))
        }
        sendTimes[index] = now
        transmitted += 1
        lastSend = now
        if checkDone(now) { return }
        if transmitted < configuration.count {
            world.scheduleTimer(app, tag: Tag.send.rawValue, after: configuration.interval)
        } else {
            // schedule_exit: 2 × tmax (at least the interval) once something came back, else linger.
            var wait = configuration.linger
            if received > 0 {
                wait = .nanoseconds(2 * tmax * 1_000)
                if wait < configuration.interval { wait = configuration.interval }
            }
            world.scheduleTimer(app, tag: Tag.exit.rawValue, after: wait)
        }
    }

    /// iputils' 16-byte timeval: seconds then microseconds, little-endian.
    @inline(__always) static func emitTimeval(_ t: SimTime, into b: UnsafeMutableRawBufferPointer) {
        let us = t.nanoseconds / 1_000
        b.baseAddress!.storeBytes(of: (us / 1_000_000).littleEndian, toByteOffset: 0, as: Int64.self)
        b.baseAddress!.storeBytes(of: (us % 1_000_000).littleEndian, toByteOffset: 8, as: Int64.self)
    }

    /// The send time in a timeval, in microseconds; nil when the data is too short.
    @inline(__always) public static func parseTimeval(_ b: UnsafeRawBufferPointer) -> Int64? {
        guard b.count >= PingConfiguration.timestampLength, let p = b.baseAddress else { return nil }
        let s = Int64(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: Int64.self))
        let us = Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: Int64.self))
        return s &* 1_000_000 &+ us
    }

    /// The index of the request with `sequence`: the most recent one sent with that number.
    private func index(of sequence: UInt16) -> Int? {
        guard transmitted > 0 else { return nil }
        let last = transmitted - 1
        let back = Int(UInt16(truncatingIfNeeded: last + 1) &- sequence)
        return last - back >= 0 ? last - back : nil
    }

    public func icmpReceived(_ world: World, socket: SocketID, message: ReceivedICMP) {
        guard finishedAt == nil else { return }
        let now = world.now
        if message.type == .echoReply {
            reply(message, now)
        } else {
            error(message, now)
        }
    }

    private func reply(_ m: ReceivedICMP, _ now: SimTime) {
        guard let i = index(of: m.sequence) else { return }
        var rttUs: Int64?
        if configuration.hasTiming, let sentUs = Self.parseTimeval(m.payload) {
            var trip = now.nanoseconds / 1_000 - sentUs
            if trip < 0 { trip = 0 }   // iputils: "Warning: time of day goes back"
            rttUs = trip
            tsum += trip
            tsum2 += trip * trip
            if trip < tmin { tmin = trip }
            if trip > tmax { tmax = trip }
        }
        let rtt = now - sendTimes[i]
        let duplicate = replied[i]
        if duplicate {
            duplicates += 1
        } else {
            replied[i] = true
            received += 1
            rttHistogram.record(rtt)
        }
        events.append(.reply(PingReply(sequence: m.sequence, from: m.source, bytes: ICMPv4Header.length + m.payload.count,
                                       ttl: m.ttl, rttMicroseconds: rttUs, rtt: rtt, duplicate: duplicate, time: now)))
        acknowledge(m.sequence)
        _ = checkDone(now)
    }

    /// An ICMP error: `payload` quotes our request (IPv4 header, then the echo header).
    private func error(_ m: ReceivedICMP, _ now: SimTime) {
        let q = m.payload
        guard q.count >= IPv4Header.minimumLength + ICMPv4Header.length else { return }
        let hl = Int(q[0] & 0x0F) * 4
        guard q.count >= hl + ICMPv4Header.length, q[hl] == ICMPv4Type.echoRequest.rawValue else { return }
        let ident = UInt16(q[hl + 4]) << 8 | UInt16(q[hl + 5])
        let sequence = UInt16(q[hl + 6]) << 8 | UInt16(q[hl + 7])
        guard ident == identifier, index(of: sequence) != nil else { return }
        errors += 1
        icmpErrors.add(type: m.type, code: m.code)
        events.append(.error(PingErrorMessage(sequence: sequence, from: m.source, type: m.type.rawValue,
                                              code: m.code, time: now)))
        acknowledge(sequence)
        _ = checkDone(now)
    }

    /// iputils' `acknowledge`: request `sequence` was answered while `transmitted` were sent.
    private func acknowledge(_ sequence: UInt16) {
        let outstanding = UInt16(truncatingIfNeeded: transmitted) &- sequence
        if outstanding <= 0x7FFF { pipesize = max(pipesize, Int(outstanding) + 1) }
    }

    /// iputils: `if (npackets && nreceived + nerrors >= npackets) break;`.
    private func checkDone(_ now: SimTime) -> Bool {
        if received + errors >= configuration.count {
            finish(now)
            return true
        }
        return false
    }

    private func finish(_ now: SimTime) {
        finishedAt = now
    }
}
