import Engine
import Wire

/// Local sockets and the applications that own them. Applications (iperf3, ping …) live
/// above the datapath and are called through `NetworkApplication`: one witness-table call per
/// received datagram or timer, no allocation.

public struct AppID: Hashable, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}

public struct SocketID: Hashable, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}

/// A datagram as a UDP socket receives it. `payload` is valid only during the call.
public struct ReceivedDatagram {
    public var source: IPv4Address
    public var sourcePort: UInt16
    public var destination: IPv4Address
    public var destinationPort: UInt16
    public var ttl: UInt8
    public var payload: UnsafeRawBufferPointer
}

/// An ICMP message delivered to a socket: an echo reply for a ping socket, or an error
/// about a datagram the socket sent.
public struct ReceivedICMP {
    public var source: IPv4Address
    public var type: ICMPv4Type
    public var code: UInt8
    public var identifier: UInt16
    public var sequence: UInt16
    public var ttl: UInt8
    /// Echo payload (replies) or the quoted datagram (errors); valid only during the call.
    public var payload: UnsafeRawBufferPointer
}

/// Why a send failed locally (the errno a real socket would return).
public enum SendError: Error, Equatable, Sendable, CustomStringConvertible {
    /// ENETUNREACH: no route.
    case networkUnreachable
    /// EMSGSIZE: larger than the path MTU on an `IP_PMTUDISC_DO` socket, or than 65,535 bytes.
    case messageTooLong(mtu: Int)

    public var description: String {
        switch self {
        case .networkUnreachable: "ENETUNREACH (no route)"
        case .messageTooLong(let mtu): "EMSGSIZE (datagram larger than the path MTU \(mtu) on a don't-fragment socket)"
        }
    }
}

public enum SocketOpenError: Error, Equatable, Sendable, CustomStringConvertible {
    /// EADDRINUSE.
    case portInUse(UInt16)

    public var description: String {
        switch self {
        case .portInUse(let port): "UDP port \(port) is already in use in that namespace (EADDRINUSE)"
        }
    }
}

/// What an application does when its socket or timer fires. Default implementations do
/// nothing, so an app implements only what it uses.
public protocol NetworkApplication: AnyObject {
    func timerFired(_ world: World, tag: UInt64)
    func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram)
    func icmpReceived(_ world: World, socket: SocketID, message: ReceivedICMP)
}

extension NetworkApplication {
    public func timerFired(_ world: World, tag: UInt64) {}
    public func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {}
    public func icmpReceived(_ world: World, socket: SocketID, message: ReceivedICMP) {}
}

struct Socket {
    enum Kind { case udp, icmpEcho }
    let kind: Kind
    let namespace: NamespaceID
    /// UDP local port, or ICMP echo identifier.
    let port: UInt16
    let app: AppID
    /// `inet->inet_id`: IP ID of the socket's DF datagrams, from a random start.
    var ipID: UInt16
    var ttl: UInt8 = 64
    /// `IP_PMTUDISC_DO`: too big is EMSGSIZE, and the IP ID is 0 (REFERENCE.md §4.2). The
    /// default, `IP_PMTUDISC_WANT`, sets DF on datagrams that fit and fragments the others.
    var dontFragment = false
    /// `SO_SNDBUF` (`net.core.wmem_default`) and what the socket's packets in flight are
    /// charged against it (`sk_wmem_alloc`): see `World.chargeSendBuffer`.
    var sendBuffer = World.defaultSendBuffer
    var sendBufferUsed = 0
    /// The timer (tag) of the socket's application waiting for room in the send buffer, or -1.
    var writeSpaceWaiter: Int64 = -1
}

extension World {
    public func register(_ app: any NetworkApplication) -> AppID {
        applications.append(app)
        applicationCores.append(-1)
        return AppID(rawValue: Int32(applications.count - 1))
    }

    public func scheduleTimer(_ app: AppID, tag: UInt64, after delay: SimDuration) {
        scheduler.schedule(.appTimer(app, tag), after: delay)
    }

    /// `socket(AF_INET, SOCK_DGRAM)` + `bind(port)`; port nil = an ephemeral port picked at
    /// random in 32768–60999 (`ip_local_port_range`), as Linux's autobind does.
    public func openUDP(in ns: NamespaceID, port: UInt16?, app: AppID) throws(SocketOpenError) -> SocketID {
        let n = namespaces[ns.index]
        let p: UInt16
        if let port {
            guard n.udpPorts[port] == nil else { throw .portInUse(port) }
            p = port
        } else {
            var candidate: UInt16
            repeat {
                candidate = UInt16(32768 + n.random.next() % (60999 - 32768 + 1))
            } while n.udpPorts[candidate] != nil
            p = candidate
        }
        let id = SocketID(rawValue: Int32(sockets.count))
        sockets.append(Socket(kind: .udp, namespace: ns, port: p, app: app,
                              ipID: UInt16(truncatingIfNeeded: n.random.next())))
        n.udpPorts[p] = id
        return id
    }

    /// A ping socket (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`): echo replies with its
    /// identifier come back to it. The identifier is random, like the kernel's.
    public func openICMPEcho(in ns: NamespaceID, app: AppID) -> SocketID {
        let n = namespaces[ns.index]
        var ident: UInt16
        repeat { ident = UInt16(truncatingIfNeeded: n.random.next()) } while n.echoSockets[ident] != nil
        let id = SocketID(rawValue: Int32(sockets.count))
        sockets.append(Socket(kind: .icmpEcho, namespace: ns, port: ident, app: app,
                              ipID: UInt16(truncatingIfNeeded: n.random.next())))
        n.echoSockets[ident] = id
        return id
    }

    public func localPort(of s: SocketID) -> UInt16 { sockets[Int(s.rawValue)].port }

    /// `setsockopt(IP_MTU_DISCOVER, IP_PMTUDISC_DO)` (true) or the default `IP_PMTUDISC_WANT`.
    public func setDontFragment(_ s: SocketID, _ on: Bool) {
        sockets[Int(s.rawValue)].dontFragment = on
    }
    public func namespace(of s: SocketID) -> NamespaceID { sockets[Int(s.rawValue)].namespace }

    /// `sendto()` on a UDP socket: builds IPv4 + UDP in a fresh packet, lets `fill` write the
    /// payload in place, computes the UDP checksum and hands it to IP output. A datagram that
    /// fits the path MTU has DF set (both PMTU modes); a bigger one fails with EMSGSIZE on an
    /// `IP_PMTUDISC_DO` socket and is fragmented locally otherwise (`ip_fragment`: DF clear,
    /// one IP ID, pieces of (MTU − 20) & ~7 bytes — REFERENCE.md §5.6 f1/f2).
    public func sendUDP(_ s: SocketID, to destination: IPv4Address, port: UInt16, payloadLength: Int,
                        fill: (UnsafeMutableRawBufferPointer) -> Void) throws(SendError) {
        let sock = sockets[Int(s.rawValue)]
        let ns = sock.namespace
        guard let route = outputRoute(ns, to: destination) else { throw .networkUnreachable }
        let mtu = pathMTU(ns, to: destination, deviceMTU: devices[route.device.index].mtu)
        let total = IPv4Header.minimumLength + UDPHeader.length + payloadLength
        if total > mtu {
            guard !sock.dontFragment, total <= 65_535 else { throw .messageTooLong(mtu: mtu) }
            sendFragmentedUDP(s, route: route, to: destination, port: port, payloadLength: payloadLength, fill: fill)
            return
        }
        let source = sourceAddress(for: route, ns: ns)
        let p = newPacket()
        pool.setLength(p, total)
        let b = pool.bytes(p)
        let udpBytes = UnsafeMutableRawBufferPointer(rebasing: b[IPv4Header.minimumLength...])
        fill(UnsafeMutableRawBufferPointer(rebasing: udpBytes[UDPHeader.length...]))
        var udp = UDPHeader(sourcePort: sock.port, destinationPort: port, length: UInt16(UDPHeader.length + payloadLength),
                            checksum: 0)
        udp.emit(into: udpBytes)
        udp.checksum = UDPHeader.checksum(source: source, destination: destination, datagram: UnsafeRawBufferPointer(udpBytes))
        udp.emit(into: udpBytes)
        pool.setValidChecksums(p, 1)
        let ip = IPv4Header(tos: 0, totalLength: UInt16(total),
                            identification: sock.dontFragment ? 0 : sockets[Int(s.rawValue)].ipID,
                            dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl: sock.ttl,
                            protocol: .udp, source: source, destination: destination)
        if !sock.dontFragment { sockets[Int(s.rawValue)].ipID &+= 1 }
        ip.emit(into: b)
        socketOutput(ns, route: route, p, app: sock.app, socket: s)
    }

    /// Builds the whole UDP datagram in the scratch buffer, then sends it as fragments.
    @inline(never)
    private func sendFragmentedUDP(_ s: SocketID, route: Route, to destination: IPv4Address, port: UInt16,
                                   payloadLength: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) {
        let sock = sockets[Int(s.rawValue)]
        let source = sourceAddress(for: route, ns: sock.namespace)
        let udpLength = UDPHeader.length + payloadLength
        let datagram = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<udpLength])
        fill(UnsafeMutableRawBufferPointer(rebasing: datagram[UDPHeader.length...]))
        var udp = UDPHeader(sourcePort: sock.port, destinationPort: port, length: UInt16(udpLength), checksum: 0)
        udp.emit(into: datagram)
        udp.checksum = UDPHeader.checksum(source: source, destination: destination, datagram: UnsafeRawBufferPointer(datagram))
        udp.emit(into: datagram)
        let id = sockets[Int(s.rawValue)].ipID
        sockets[Int(s.rawValue)].ipID &+= 1
        ipFragmentLocal(sock.namespace, route: route, source: source, destination: destination, identification: id,
                        ttl: sock.ttl, protocol: .udp, payload: UnsafeRawBufferPointer(datagram), app: sock.app, socket: s)
    }

    /// Sends an ICMP echo request from a ping socket: `payloadLength` bytes written by
    /// `fill`. DF is set when it fits the path MTU (ping's default socket, REFERENCE.md
    /// §4.2); a bigger one (`ping -s 2000`) is fragmented locally with DF clear, as
    /// `IP_PMTUDISC_WANT` does, unless the socket is `IP_PMTUDISC_DO` (EMSGSIZE).
    public func sendEchoRequest(_ s: SocketID, to destination: IPv4Address, sequence: UInt16, payloadLength: Int,
                                fill: (UnsafeMutableRawBufferPointer) -> Void) throws(SendError) {
        let sock = sockets[Int(s.rawValue)]
        let ns = sock.namespace
        guard let route = outputRoute(ns, to: destination) else { throw .networkUnreachable }
        let mtu = pathMTU(ns, to: destination, deviceMTU: devices[route.device.index].mtu)
        let total = IPv4Header.minimumLength + ICMPv4Header.length + payloadLength
        let source = sourceAddress(for: route, ns: ns)
        if total > mtu {
            guard !sock.dontFragment, total <= 65_535 else { throw .messageTooLong(mtu: mtu) }
            let msg = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<(ICMPv4Header.length + payloadLength)])
            fill(UnsafeMutableRawBufferPointer(rebasing: msg[ICMPv4Header.length...]))
            ICMPv4Header(type: .echoRequest, code: 0, restOfHeader: UInt32(sock.port) << 16 | UInt32(sequence))
                .emit(intoMessage: msg)
            ipFragmentLocal(ns, route: route, source: source, destination: destination,
                            identification: sockets[Int(s.rawValue)].ipID, ttl: sock.ttl, protocol: .icmp,
                            payload: UnsafeRawBufferPointer(msg), app: sock.app, socket: s)
            sockets[Int(s.rawValue)].ipID &+= 1
            return
        }
        let p = newPacket()
        pool.setLength(p, total)
        let b = pool.bytes(p)
        let msg = UnsafeMutableRawBufferPointer(rebasing: b[IPv4Header.minimumLength...])
        fill(UnsafeMutableRawBufferPointer(rebasing: msg[ICMPv4Header.length...]))
        ICMPv4Header(type: .echoRequest, code: 0, restOfHeader: UInt32(sock.port) << 16 | UInt32(sequence))
            .emit(intoMessage: msg)
        IPv4Header(tos: 0, totalLength: UInt16(total), identification: sockets[Int(s.rawValue)].ipID,
                   dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl: sock.ttl,
                   protocol: .icmp, source: source, destination: destination).emit(into: b)
        sockets[Int(s.rawValue)].ipID &+= 1
        socketOutput(ns, route: route, p, app: sock.app, socket: s)
    }

    /// A socket's send leaves through `ip_local_out` on the application's core, queued behind
    /// that core's earlier work (dropped when its backlog is full: see NodeCPU.swift). A
    /// packet sent from `socket` is charged to its send buffer first.
    @inline(__always) func socketOutput(_ ns: NamespaceID, route: Route, _ p: PacketHandle, app: AppID?,
                                        socket: SocketID? = nil) {
        if let socket { chargeSendBuffer(p, to: socket) }
        setApplicationCore(ns, app, p)
        guard admitToBacklog(ns, p, device: route.device) else { return }
        // The send's first stage (socket output, once OUTPUT/POSTROUTING have run) is its entry.
        nextStageIsEntry = true
        ipOutputLocal(ns, route: route, p)
        nextStageIsEntry = false
    }
}
