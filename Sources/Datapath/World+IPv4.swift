import Engine
import Wire

/// IPv4: receive (`ip_rcv`), local delivery (`ip_local_deliver` → UDP, ICMP), forwarding
/// (`ip_forward`), local output (`ip_output`), and ICMP errors (`icmp_send`).
extension World {
    /// Linux's `ip_default_ttl`.
    public static let defaultTTL: UInt8 = 64
    /// ICMP errors quote at most this many bytes so the whole error fits in 576 bytes
    /// (`icmp_send`: room = 576 − IP header − ICMP header).
    static let icmpErrorQuoteLimit = 576 - IPv4Header.minimumLength - ICMPv4Header.length

    // MARK: Output

    /// The route a locally generated packet to `destination` takes: a local address goes
    /// over `lo` (the local table), anything else through the main table.
    public func outputRoute(_ ns: NamespaceID, to destination: IPv4Address) -> Route? {
        let n = namespaces[ns.index]
        if n.isLocal(destination) {
            return Route(destination: IPv4Network(address: destination, prefixLength: 32),
                         device: n.loopback, source: destination)
        }
        return n.routes.lookup(destination)
    }

    /// `inet_select_addr`: the route's preferred source, else the egress device's primary
    /// address, else any address of the namespace.
    public func sourceAddress(for route: Route, ns: NamespaceID) -> IPv4Address {
        if let s = route.source { return s }
        if let a = devices[route.device.index].addresses.first { return a.address }
        return namespaces[ns.index].localAddresses.first { !$0.isLoopback } ?? .any
    }

    /// The source address a socket in `ns` sending to `destination` puts on its datagrams
    /// (the output route's, as above), or nil without a route.
    public func sourceAddress(_ ns: NamespaceID, to destination: IPv4Address) -> IPv4Address? {
        guard let r = outputRoute(ns, to: destination) else { return nil }
        return sourceAddress(for: r, ns: ns)
    }

    /// Sends a locally built IPv4 packet (header at the packet's start) along `route`
    /// (`ip_local_out`: OUTPUT, a new route if DNAT moved the destination, POSTROUTING).
    func ipOutputLocal(_ ns: NamespaceID, route: Route, _ p: PacketHandle, delay: SimDuration? = nil) {
        var route = route
        var dst = IPv4Address(loading: pool.data(p) + IPv4Header.destinationOffset)
        if let st = namespaces[ns.index].netfilter {
            guard nfPreroutingOrOutput(ns, st, p, ipOffset: 0, hook: .output, inDevice: .none, outDevice: route.device) else { return }
            let now = IPv4Address(loading: pool.data(p) + IPv4Header.destinationOffset)
            if now != dst {
                // `ip_route_me_harder`: DNAT changed where the packet goes.
                dst = now
                guard let r = outputRoute(ns, to: dst) else {
                    nfDropped(ns, st, p, .noRoute, device: route.device)
                    return
                }
                route = r
            }
            guard nfPostroutingOrInput(ns, st, p, ipOffset: 0, hook: .postrouting, inDevice: .none, outDevice: route.device) else {
                return
            }
        }
        neighbourOutput(ns, device: route.device, nextHop: route.gateway ?? dst, p,
                        after: delay ?? namespaces[ns.index].costs.localOutput)
    }

    // MARK: Receive

    /// `ip_rcv` on `dev` (the packet starts at its IPv4 header).
    func ipReceive(_ dev: DeviceID, _ p: PacketHandle) {
        orphan(p)  // `ip_rcv_core`: "Must drop socket now because of tproxy."
        let ns = devices[dev.index].namespace
        let bytes = UnsafeRawBufferPointer(pool.bytes(p))
        guard var ip = try? IPv4Header(parsing: bytes),
              IPv4Header.isChecksumValid(header: UnsafeRawBufferPointer(rebasing: bytes[0..<ip.headerLength])) else {
            devices[dev.index].counters.rxDropped += 1
            drop(p, .malformed, ns: ns, device: dev)
            return
        }
        // Strip link-layer padding beyond the datagram.
        if bytes.count > Int(ip.totalLength) { pool.setLength(p, Int(ip.totalLength)) }
        let n = namespaces[ns.index]
        if let st = n.netfilter, !pool.meta[Int(p.rawValue)].preroutingDone {
            guard nfPreroutingOrOutput(ns, st, p, ipOffset: 0, hook: .prerouting, inDevice: dev, outDevice: .none) else { return }
            ip.destination = IPv4Address(loading: pool.data(p) + IPv4Header.destinationOffset)
            ip.source = IPv4Address(loading: pool.data(p) + 12)
        }
        if n.isLocal(ip.destination) || isBroadcast(ip.destination, on: dev) {
            ipLocalDeliver(dev, p, ip)
        } else if ip.destination.isMulticast {
            drop(p, .unhandledProtocol, ns: ns, device: dev)
        } else if n.forwarding {
            ipForward(dev, p, ip)
        } else {
            drop(p, .notForUs, ns: ns, device: dev)
        }
    }

    @inline(__always) func isBroadcast(_ a: IPv4Address, on dev: DeviceID) -> Bool {
        if a.isBroadcast { return true }
        for i in devices[dev.index].addresses where i.prefixLength < 31 && i.network.broadcast == a { return true }
        return false
    }

    /// `ip_local_deliver`: UDP to its socket, ICMP to the echo responder or a socket.
    func ipLocalDeliver(_ dev: DeviceID, _ p: PacketHandle, _ ip: IPv4Header) {
        let ns = devices[dev.index].namespace
        var ip = ip
        // INPUT before reassembly: on a node with conntrack the fragments' datagram was gathered
        // at PREROUTING already (World+ConntrackDefrag), and INPUT confirms its entry.
        if let st = namespaces[ns.index].netfilter {
            guard nfPostroutingOrInput(ns, st, p, ipOffset: 0, hook: .input, inDevice: dev, outDevice: .none) else { return }
            ip.source = IPv4Address(loading: pool.data(p) + 12)
            ip.destination = IPv4Address(loading: pool.data(p) + IPv4Header.destinationOffset)
        }
        if ip.isFragment {
            ipDefragment(dev, p, ip)
            return
        }
        let bytes = UnsafeRawBufferPointer(pool.bytes(p))
        let l4 = UnsafeRawBufferPointer(rebasing: bytes[ip.headerLength..<Int(ip.totalLength)])
        switch ip.protocol {
        case .udp: udpReceive(dev, p, ip, l4)
        case .icmp: icmpReceive(dev, p, ip, l4)
        default: drop(p, .unhandledProtocol, ns: ns, device: dev)
        }
    }

    func udpReceive(_ dev: DeviceID, _ p: PacketHandle, _ ip: IPv4Header, _ l4: UnsafeRawBufferPointer) {
        let ns = devices[dev.index].namespace
        // A checksum podwire computed and kept valid needs no second sum (Linux:
        // CHECKSUM_UNNECESSARY, as veth and VXLAN hand such packets on); debug builds check it.
        guard let udp = try? UDPHeader(parsing: l4), Int(udp.length) == l4.count,
              pool.validChecksums(p) > 0 && shortcuts.contains(.knownChecksums)
                || UDPHeader.isChecksumValid(source: ip.source, destination: ip.destination, datagram: l4) else {
            drop(p, .malformed, ns: ns, device: dev)
            return
        }
        assert(pool.validChecksums(p) == 0
               || UDPHeader.isChecksumValid(source: ip.source, destination: ip.destination, datagram: l4),
               "a UDP checksum marked valid does not verify")
        if let v = namespaces[ns.index].vxlanPorts[udp.destinationPort] {
            vxlanDecapsulate(Int(v), p, ip, l4)
            return
        }
        guard let s = namespaces[ns.index].udpPorts[udp.destinationPort] else {
            if !isBroadcast(ip.destination, on: dev) {
                sendICMPError(ns, about: p, type: .destinationUnreachable, code: ICMPv4UnreachableCode.port)
            }
            drop(p, .noSocket, ns: ns, device: dev)
            return
        }
        let sock = sockets[Int(s.rawValue)]
        let d = ReceivedDatagram(source: ip.source, sourcePort: udp.sourcePort, destination: ip.destination,
                                 destinationPort: udp.destinationPort, ttl: ip.ttl,
                                 payload: UnsafeRawBufferPointer(rebasing: l4[UDPHeader.length...]))
        applications[Int(sock.app.rawValue)].udpReceived(self, socket: s, datagram: d)
        deliver(p, ns: ns, device: dev)
    }

    func icmpReceive(_ dev: DeviceID, _ p: PacketHandle, _ ip: IPv4Header, _ msg: UnsafeRawBufferPointer) {
        let ns = devices[dev.index].namespace
        guard let icmp = try? ICMPv4Header(parsing: msg), ICMPv4Header.isChecksumValid(message: msg) else {
            drop(p, .malformed, ns: ns, device: dev)
            return
        }
        let body = UnsafeRawBufferPointer(rebasing: msg[ICMPv4Header.length...])
        switch icmp.type {
        case .echoRequest:
            // icmp_echo_ignore_broadcasts = 1.
            if isBroadcast(ip.destination, on: dev) {
                drop(p, .notForUs, ns: ns, device: dev)
                return
            }
            sendEchoReply(ns, request: ip, icmp: icmp, body: body)
            deliver(p, ns: ns, device: dev)
        case .echoReply:
            guard let s = namespaces[ns.index].echoSockets[icmp.identifier] else {
                drop(p, .noSocket, ns: ns, device: dev)
                return
            }
            notify(s, ReceivedICMP(source: ip.source, type: icmp.type, code: icmp.code, identifier: icmp.identifier,
                                   sequence: icmp.sequence, ttl: ip.ttl, payload: body))
            deliver(p, ns: ns, device: dev)
        case .destinationUnreachable, .timeExceeded:
            guard let s = socketForError(ns, quote: body) else {
                drop(p, .noSocket, ns: ns, device: dev)
                return
            }
            if icmp.type == .destinationUnreachable && icmp.code == ICMPv4UnreachableCode.fragmentationNeeded {
                learnPathMTU(ns, quote: body, mtu: Int(icmp.sequence))
            }
            notify(s, ReceivedICMP(source: ip.source, type: icmp.type, code: icmp.code, identifier: 0,
                                   sequence: 0, ttl: ip.ttl, payload: body))
            deliver(p, ns: ns, device: dev)
        default:
            drop(p, .unhandledProtocol, ns: ns, device: dev)
        }
    }

    /// `ip_rt_mtu_expires`: a learnt path MTU lasts 10 minutes.
    static let pathMTUExpiry = SimDuration.seconds(600)
    /// `ip_rt_min_pmtu`: a smaller reported MTU is raised to this (and locked).
    static let minimumPathMTU = 552

    /// A socket's datagram drew "fragmentation needed": `udp_err`/`ping_err` →
    /// `ipv4_sk_update_pmtu` → `__ip_rt_update_pmtu` records the next-hop MTU for the quoted
    /// destination, unless it is not smaller than the route's MTU now.
    private func learnPathMTU(_ ns: NamespaceID, quote: UnsafeRawBufferPointer, mtu reported: Int) {
        guard quote.count >= IPv4Header.minimumLength else { return }
        let destination = IPv4Address(rawValue: UInt32(bigEndian: quote.baseAddress!.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
        guard let route = outputRoute(ns, to: destination) else { return }
        let current = pathMTU(ns, to: destination, deviceMTU: devices[route.device.index].mtu)
        guard reported < current else { return }
        let mtu = reported < World.minimumPathMTU ? min(current, World.minimumPathMTU) : reported
        namespaces[ns.index].pathMTUs[destination] = PathMTUException(mtu: mtu, expires: now + World.pathMTUExpiry)
    }

    /// The MTU a locally generated datagram to `destination` must fit: the route's device MTU,
    /// or a smaller learnt path MTU that has not expired.
    @inline(__always)
    func pathMTU(_ ns: NamespaceID, to destination: IPv4Address, deviceMTU: Int) -> Int {
        let n = namespaces[ns.index]
        guard !n.pathMTUs.isEmpty, let e = n.pathMTUs[destination] else { return deviceMTU }
        guard now < e.expires else {
            n.pathMTUs[destination] = nil
            return deviceMTU
        }
        return min(deviceMTU, e.mtu)
    }

    private func notify(_ s: SocketID, _ m: ReceivedICMP) {
        applications[Int(sockets[Int(s.rawValue)].app.rawValue)].icmpReceived(self, socket: s, message: m)
    }

    /// The local socket that sent the datagram an ICMP error quotes.
    private func socketForError(_ ns: NamespaceID, quote: UnsafeRawBufferPointer) -> SocketID? {
        guard quote.count >= IPv4Header.minimumLength + 8, quote[0] >> 4 == 4 else { return nil }
        let hl = Int(quote[0] & 0x0F) * 4
        guard hl >= 20, quote.count >= hl + 8 else { return nil }
        let n = namespaces[ns.index]
        let l4 = quote.baseAddress! + hl
        switch IPProtocol(rawValue: quote[9]) {
        case .udp:
            return n.udpPorts[UInt16(bigEndian: l4.loadUnaligned(as: UInt16.self))]
        case .icmp:
            return n.echoSockets[UInt16(bigEndian: l4.loadUnaligned(fromByteOffset: 4, as: UInt16.self))]
        default:
            return nil
        }
    }

    /// `icmp_echo` → `icmp_reply`: same identifier, sequence and data, from the address the
    /// request was sent to. The kernel's reply has DF clear (REFERENCE.md §4.2).
    func sendEchoReply(_ ns: NamespaceID, request ip: IPv4Header, icmp: ICMPv4Header, body: UnsafeRawBufferPointer) {
        guard let route = outputRoute(ns, to: ip.source) else { return }
        let total = IPv4Header.minimumLength + ICMPv4Header.length + body.count
        let n = namespaces[ns.index]
        let p = newPacket()
        pool.setLength(p, total)
        let b = pool.bytes(p)
        let msg = UnsafeMutableRawBufferPointer(rebasing: b[IPv4Header.minimumLength...])
        UnsafeMutableRawBufferPointer(rebasing: msg[ICMPv4Header.length...]).copyMemory(from: body)
        ICMPv4Header(type: .echoReply, code: 0, restOfHeader: icmp.restOfHeader).emit(intoMessage: msg)
        IPv4Header(tos: ip.tos, totalLength: UInt16(total), identification: n.ipID, dontFragment: false,
                   moreFragments: false, fragmentOffset: 0, ttl: World.defaultTTL, protocol: .icmp,
                   source: ip.destination, destination: ip.source).emit(into: b)
        n.ipID &+= 1
        ipOutputLocal(ns, route: route, p)
    }

    // MARK: Forward

    /// `ip_forward`: TTL check, MTU check (before the decrement, so frag-needed quotes the
    /// original TTL, REFERENCE.md §4.1), TTL decrement, then output to the next hop.
    func ipForward(_ dev: DeviceID, _ p: PacketHandle, _ ip: IPv4Header) {
        let ns = devices[dev.index].namespace
        guard let route = namespaces[ns.index].routes.lookup(ip.destination) else {
            sendICMPError(ns, about: p, type: .destinationUnreachable, code: ICMPv4UnreachableCode.network)
            drop(p, .noRoute, ns: ns, device: dev)
            return
        }
        if ip.ttl <= 1 {
            sendICMPError(ns, about: p, type: .timeExceeded, code: 0)
            drop(p, .ttlExceeded, ns: ns, device: dev)
            return
        }
        let mtu = devices[route.device.index].mtu
        if Int(ip.totalLength) > mtu && ip.dontFragment {
            sendICMPError(ns, about: p, type: .destinationUnreachable,
                          code: ICMPv4UnreachableCode.fragmentationNeeded, restOfHeader: UInt32(mtu))
            drop(p, .mtuExceeded, ns: ns, device: dev)
            return
        }
        IPv4Header.decrementTTL(header: pool.data(p))
        if let st = namespaces[ns.index].netfilter {
            guard nfFilter(ns, st, p, ipOffset: 0, hook: .forward, inDevice: dev, outDevice: route.device),
                  nfPostroutingOrInput(ns, st, p, ipOffset: 0, hook: .postrouting, inDevice: dev, outDevice: route.device)
            else { return }
        }
        let nextHop = route.gateway ?? ip.destination
        if Int(ip.totalLength) > mtu {
            // No DF: `ip_finish_output` → `ip_fragment` cuts it for the next hop.
            ipFragmentForwarded(ns, p, mtu: mtu, device: route.device, nextHop: nextHop)
            return
        }
        neighbourOutput(ns, device: route.device, nextHop: nextHop, p, after: namespaces[ns.index].costs.ipForward)
    }

    // MARK: ICMP errors

    /// `icmp_send`: an ICMP error about packet `p` (IPv4 header at its start) to its source.
    /// Not about ICMP errors, non-first fragments, or broadcast/multicast/unspecified
    /// addresses (RFC 1122 §3.2.2). Source: the offending destination when it is ours, else
    /// the address the route back to the sender picks. TOS 0xc0, DF clear, TTL 64; the quote
    /// is the original datagram cut to fit 576 bytes (REFERENCE.md §4.2, §5.6).
    func sendICMPError(_ ns: NamespaceID, about p: PacketHandle, type: ICMPv4Type, code: UInt8,
                       restOfHeader: UInt32 = 0) {
        let bytes = UnsafeRawBufferPointer(pool.bytes(p))
        guard let ip = try? IPv4Header(parsing: bytes) else { return }
        if ip.fragmentOffset != 0 || ip.source.isUnspecified || ip.source.isBroadcast || ip.source.isMulticast
            || ip.destination.isBroadcast || ip.destination.isMulticast { return }
        if ip.protocol == .icmp, bytes.count > ip.headerLength {
            let t = bytes[ip.headerLength]
            if t != ICMPv4Type.echoRequest.rawValue && t != ICMPv4Type.echoReply.rawValue { return }
        }
        let n = namespaces[ns.index]
        guard let route = outputRoute(ns, to: ip.source) else { return }
        guard icmpRateAllows(ns, type: type, code: code, to: ip.source, via: route.device) else { return }
        let source = n.isLocal(ip.destination) ? ip.destination : sourceAddress(for: route, ns: ns)
        let quote = min(Int(ip.totalLength), World.icmpErrorQuoteLimit)
        let total = IPv4Header.minimumLength + ICMPv4Header.length + quote
        let e = newPacket()
        pool.setLength(e, total)
        let b = pool.bytes(e)
        let msg = UnsafeMutableRawBufferPointer(rebasing: b[IPv4Header.minimumLength...])
        UnsafeMutableRawBufferPointer(rebasing: msg[ICMPv4Header.length...])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<quote]))
        ICMPv4Header(type: type, code: code, restOfHeader: restOfHeader).emit(intoMessage: msg)
        IPv4Header(tos: 0xC0, totalLength: UInt16(total), identification: n.ipID, dontFragment: false,
                   moreFragments: false, fragmentOffset: 0, ttl: World.defaultTTL, protocol: .icmp,
                   source: source, destination: ip.source).emit(into: b)
        n.ipID &+= 1
        // `nf_ct_attach`: the error belongs to the offending packet's flow (RELATED, the
        // other direction), so NAT can put the quote back as the sender sent it.
        if pool.meta[Int(p.rawValue)].conntrack >= 0 {
            var m = PacketMeta()
            m.conntrack = pool.meta[Int(p.rawValue)].conntrack
            m.reply = !pool.meta[Int(p.rawValue)].reply
            m.related = true
            pool.meta[Int(e.rawValue)] = m
        }
        ipOutputLocal(ns, route: route, e)
    }

    /// `net.ipv4.icmp_ratelimit` (1000 ms): the time credit one rate-limited ICMP error costs.
    static let icmpRateLimit: Int64 = 1_000_000_000
    /// `XRLIM_BURST_FACTOR`: a destination banks at most 6 errors' worth of credit.
    static let icmpRateBurstFactor: Int64 = 6
    /// `net.ipv4.icmp_ratemask` 0x1818: destination unreachable, source quench, time
    /// exceeded and parameter problem are rate-limited; the others are not.
    static let icmpRateMask: UInt32 = 0x1818

    /// `icmpv4_mask_allow` + `icmpv4_xrlim_allow` → `inet_peer_xrlim_allow`: whether an
    /// ICMP error of this type to `destination` may go now. Per destination, each error costs
    /// 1 s of credit, credit grows with time up to 6 s, and a destination not seen before
    /// starts full (`inet_getpeer` sets `rate_last` 60 s back), so a burst of errors gets 6
    /// and then one a second. Not limited: "fragmentation needed" ("Don't limit PMTU
    /// discovery"), types outside the mask, and errors routed out through loopback (to a
    /// local sender). The kernel counts credit in jiffies; podwire in nanoseconds. The
    /// global limiter (`icmp_msgs_per_sec` 1000, `icmp_msgs_burst` 50 on Linux 6.18, each
    /// error taking 0–2 credits at random) is not modelled: it binds only when errors to
    /// many destinations pass 50 at once or 1000 a second.
    func icmpRateAllows(_ ns: NamespaceID, type: ICMPv4Type, code: UInt8, to destination: IPv4Address,
                        via device: DeviceID) -> Bool {
        if type == .destinationUnreachable && code == ICMPv4UnreachableCode.fragmentationNeeded { return true }
        guard type.rawValue < 32, Self.icmpRateMask & (1 << UInt32(type.rawValue)) != 0 else { return true }
        if devices[device.index].kind == .loopback { return true }
        let n = namespaces[ns.index], now = self.now
        let ceiling = Self.icmpRateBurstFactor * Self.icmpRateLimit
        var bucket = n.icmpPeers[destination] ?? ICMPRateBucket(tokens: ceiling, last: now)
        bucket.tokens = min(bucket.tokens + (now - bucket.last).nanoseconds, ceiling)
        bucket.last = now
        let allowed = bucket.tokens >= Self.icmpRateLimit
        if allowed { bucket.tokens -= Self.icmpRateLimit } else { n.icmpOutRateLimitHost += 1 }
        n.icmpPeers[destination] = bucket
        return allowed
    }
}
