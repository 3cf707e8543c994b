import Engine
import Wire

/// Link layer: device transmit and receive, veth, loopback and the bridge
/// (net/bridge/br_input.c, br_forward.c, br_device.c).
extension World {
    /// `dev_queue_xmit` on `dev`: the frame leaves the device now.
    func deviceTransmit(_ dev: DeviceID, _ p: PacketHandle) {
        // Fields are read one by one: copying a whole `Device` (name, addresses, queue)
        // costs a retain and release per reference field on every hop (~13% in perf).
        let ns = devices[dev.index].namespace
        let kind = devices[dev.index].kind
        guard devices[dev.index].isUp else {
            devices[dev.index].counters.txDropped += 1
            drop(p, .deviceDown, ns: ns, device: dev)
            return
        }
        let len = pool.length(p)
        // veth and the bridge refuse frames over MTU + L2 header (`is_skb_forwardable`).
        if len > devices[dev.index].mtu + EthernetHeader.length, kind != .loopback {
            devices[dev.index].counters.txDropped += 1
            drop(p, .mtuExceeded, ns: ns, device: dev)
            return
        }
        if devices[dev.index].link != nil {
            charge(ns, p, namespaces[ns.index].costs.nicTx)
            enqueueOnWire(dev, p)
            return
        }
        // br_netfilter takes a bridged-DNAT packet back in `br_dev_xmit` before the bridge
        // device counts it (`br_nf_dev_xmit`); the tap has seen it all the same. Only a
        // bridge device can hold one, so no other transmit reads the packet's meta for it.
        var handedBack = false
        if case .bridge = kind { handedBack = pool.meta[Int(p.rawValue)].bridgedDNATPort != .none }
        if !handedBack { devices[dev.index].counters.transmitted(len - devices[dev.index].uncountedHeader) }
        hop(.deviceTx, ns, dev, p)
        switch kind {
        case .veth(let peer):
            pool.meta[Int(p.rawValue)] = .none  // `skb_scrub_packet`
            // veth_xmit → netif_rx: the peer receives on the same core (see NodeCPU.swift on
            // why this entry never drops).
            let peerNS = devices[peer.index].namespace
            stage(.receive(peer, p), p, in: peerNS, cost: namespaces[peerNS.index].costs.veth)
        case .loopback:
            stage(.receive(dev, p), p, in: ns, cost: namespaces[ns.index].costs.loopback)
        case .bridge(let b):
            bridgeDeviceTransmit(b, p)
        case .ethernet:
            devices[dev.index].counters.txDropped += 1
            drop(p, .noCarrier, ns: ns, device: dev)
        case .vxlan(let i):
            vxlanEncapsulate(Int(i), p)
        }
    }

    /// The qdisc of a shaped device: the frame starts when the wire is free, unless
    /// `txqueuelen` frames already wait (then it is dropped, as pfifo_fast does).
    func enqueueOnWire(_ dev: DeviceID, _ p: PacketHandle) {
        let link = devices[dev.index].link!
        let start = max(now, devices[dev.index].wireFreeAt)
        let waiting = devices[dev.index].pruneWireQueue(now: now)
        if start > now && waiting >= link.txqueuelen {
            devices[dev.index].counters.txDropped += 1
            drop(p, .queueFull, ns: devices[dev.index].namespace, device: dev)
            return
        }
        devices[dev.index].occupyWire(until: start + link.serialization(of: pool.length(p)), start: start, now: now)
        if start > now {
            schedule(.wireStart(dev, p), after: start - now)
        } else {
            wireStart(dev, p)
        }
    }

    /// `dev_hard_start_xmit` on a shaped device: the tap sees the frame as it goes onto the
    /// wire; it arrives at the peer after serialisation and propagation.
    func wireStart(_ dev: DeviceID, _ p: PacketHandle) {
        let link = devices[dev.index].link!
        let ns = devices[dev.index].namespace
        devices[dev.index].counters.transmitted(pool.length(p))
        hop(.deviceTx, ns, dev, p)
        guard case .veth(let peer) = devices[dev.index].kind else {
            drop(p, .noCarrier, ns: ns, device: dev)
            return
        }
        pool.meta[Int(p.rawValue)] = .none  // `skb_scrub_packet`
        clearCore(p)
        // The NIC has it: its TX completion frees the skb and the sender's charge (a frame
        // time early here, when it starts onto the wire).
        orphan(p)
        schedule(.wireArrival(peer, p), after: link.serialization(of: pool.length(p)) + link.propagationDelay)
    }

    /// The last bit of a frame reached `dev` from its cable. Behind a capped bus it waits in
    /// the NIC's receive FIFO (dropped when that is full) and crosses the bus first.
    func wireArrival(_ dev: DeviceID, _ p: PacketHandle) {
        if devices[dev.index].receiveBus != nil {
            enterReceiveBus(dev, p)
            return
        }
        nicReceive(dev, p)
    }

    @inline(never) func enterReceiveBus(_ dev: DeviceID, _ p: PacketHandle) {
        let bus = devices[dev.index].receiveBus!
        let length = pool.length(p)
        let busyUntil = devices[dev.index].receiveBusFreeAt
        if bus.backlog(busyUntil: busyUntil, now: now) + length > bus.fifoBytes {
            devices[dev.index].counters.rxDropped += 1
            drop(p, .nicReceiveFIFOFull, ns: devices[dev.index].namespace, device: dev)
            return
        }
        let done = max(now, busyUntil) + bus.transfer(of: length)
        devices[dev.index].receiveBusFreeAt = done
        schedule(.busArrival(dev, p), after: done - now)
    }

    /// The host receives a frame from its NIC. On a node the NIC's receive (NAPI poll, GRO,
    /// `netif_receive_skb`) runs on the softirq core first, and a frame that finds
    /// `netdev_max_backlog` packets waiting there is dropped; elsewhere it is received now.
    func nicReceive(_ dev: DeviceID, _ p: PacketHandle) {
        let ns = devices[dev.index].namespace
        if namespaces[ns.index].cpu < 0 {
            deviceReceive(dev, p)
            return
        }
        entryStage(.receive(dev, p), p, in: ns, cost: namespaces[ns.index].costs.nicRx, device: dev)
    }

    /// A frame arrives at `dev`.
    func deviceReceive(_ dev: DeviceID, _ p: PacketHandle) {
        let ns = devices[dev.index].namespace
        guard devices[dev.index].isUp else {
            devices[dev.index].counters.rxDropped += 1
            drop(p, .deviceDown, ns: ns, device: dev)
            return
        }
        devices[dev.index].counters.received(pool.length(p) - devices[dev.index].uncountedHeader)
        hop(.deviceRx, ns, dev, p)
        if let b = devices[dev.index].master {
            bridgeHandleFrame(b, ingress: dev, p)
        } else {
            netifReceive(dev, p)
        }
    }

    /// `__netif_receive_skb` → `eth_type_trans` → protocol handler, for a device with its
    /// own IP stack (not a bridge port).
    func netifReceive(_ dev: DeviceID, _ p: PacketHandle) {
        let ns = devices[dev.index].namespace
        let frame = UnsafeRawBufferPointer(pool.bytes(p))
        guard let eth = try? EthernetHeader(parsing: frame) else {
            devices[dev.index].counters.rxDropped += 1
            drop(p, .malformed, ns: ns, device: dev)
            return
        }
        // PACKET_OTHERHOST frames are dropped by ip_rcv/arp_rcv.
        if eth.destination != devices[dev.index].mac && !eth.destination.isMulticast && devices[dev.index].kind != .loopback {
            drop(p, .otherHost, ns: ns, device: dev)
            return
        }
        switch eth.etherType {
        case .ipv4:
            pool.pull(p, EthernetHeader.length)
            ipReceive(dev, p)
        case .arp:
            arpReceive(dev, p)
        default:
            drop(p, .unhandledProtocol, ns: ns, device: dev)
        }
    }

    // MARK: - Bridge

    /// `br_handle_frame_finish`: learn the source, then forward, flood or pass up.
    func bridgeHandleFrame(_ b: BridgeID, ingress: DeviceID, _ p: PacketHandle) {
        let ns = devices[ingress.index].namespace
        let frame = UnsafeRawBufferPointer(pool.bytes(p))
        guard frame.count >= EthernetHeader.length else {
            drop(p, .malformed, ns: ns, device: ingress)
            return
        }
        var dst = MACAddress(loading: frame.baseAddress!)
        let src = MACAddress(loading: frame.baseAddress! + 6)
        // `is_valid_ether_addr(h_source)`: a multicast or zero source is dropped.
        if src.isMulticast || src == .zero {
            drop(p, .malformed, ns: ns, device: ingress)
            return
        }
        let bi = Int(b.rawValue)
        bridges[bi].fdb.learn(src, port: ingress, now: now)
        let brnf = namespaces[ns.index].netfilter.flatMap { $0.bridgeCallsIptables && !dst.isMulticast
            && frame.count >= EthernetHeader.length + 20 && frame[12] == 0x08 && frame[13] == 0x00 ? $0 : nil }
        if let st = brnf {
            guard let mac = brNetfilterPrerouting(b, st, ns, p, ingress: ingress) else { return }
            dst = mac
        }
        bridgeForward(b, ingress: ingress, p, destination: dst, netfilter: brnf)
    }

    /// The rest of `br_handle_frame_finish`, after PREROUTING: forward (through br_netfilter's
    /// FORWARD and POSTROUTING when `netfilter` is given), flood or pass up.
    private func bridgeForward(_ b: BridgeID, ingress: DeviceID, _ p: PacketHandle, destination dst: MACAddress,
                               netfilter brnf: NetfilterState?) {
        let ns = devices[ingress.index].namespace
        switch bridgeDecide(b, ingress: ingress, destination: dst) {
        case .forward(let port):
            if let st = brnf, !brNetfilterForward(b, st, ns, p) { return }
            stage(.transmit(port, p), p, in: ns, cost: namespaces[ns.index].costs.bridge)
        case .flood(let passUp):
            if let st = brnf, !passUp, !brNetfilterForward(b, st, ns, p) { return }
            bridgeFlood(b, ingress: ingress, p, passUp: passUp)
        case .passUp:
            bridgePassUp(b, p)
        case .drop(let reason):
            drop(p, reason, ns: ns, device: ingress)
        }
    }

    /// `br_nf_pre_routing`: conntrack and nat PREROUTING for a bridged IPv4 frame, seen by
    /// iptables as arriving on the bridge device. When DNAT sends the packet to an address
    /// whose route points back out of this bridge ("bridged DNAT", REFERENCE.md §5.3), the
    /// frame stays bridged — TTL and source MAC untouched — with the new neighbour's MAC as
    /// its destination. An unresolved neighbour (`br_nf_pre_routing_finish_bridge`) takes the
    /// packet through the bridge device's neighbour output, so it waits for ARP and shows on
    /// the bridge device with the bridge's MAC as source; the bridge device then hands it back
    /// to forwarding from its ingress port with its own source MAC restored
    /// (`br_nf_pre_routing_finish_bridge_slow`), through FORWARD and POSTROUTING like any
    /// bridged frame (`bridgeDeviceTransmit`).
    /// Returns the destination MAC to bridge on, or nil when the packet was consumed.
    func brNetfilterPrerouting(_ b: BridgeID, _ st: NetfilterState, _ ns: NamespaceID, _ p: PacketHandle,
                               ingress: DeviceID) -> MACAddress? {
        let bridgeDevice = bridges[Int(b.rawValue)].device
        let ipStart = pool.data(p) + EthernetHeader.length
        let before = IPv4Address(loading: ipStart + IPv4Header.destinationOffset)
        guard nfPreroutingOrOutput(ns, st, p, ipOffset: EthernetHeader.length, hook: .prerouting, inDevice: bridgeDevice,
                                   outDevice: .none, bridgePort: ingress) else { return nil }
        pool.meta[Int(p.rawValue)].preroutingDone = true
        let frameDst = MACAddress(loading: pool.data(p))
        let after = IPv4Address(loading: pool.data(p) + EthernetHeader.length + IPv4Header.destinationOffset)
        guard after != before, let route = namespaces[ns.index].routes.lookup(after), route.device == bridgeDevice else {
            return frameDst
        }
        let nextHop = route.gateway ?? after
        let n = namespaces[ns.index]
        if let i = n.neighbours.find(nextHop, device: bridgeDevice), let mac = n.neighbours.entries[Int(i)].mac,
           n.neighbours.entries[Int(i)].state != .incomplete && n.neighbours.entries[Int(i)].state != .failed {
            mac.store(to: pool.data(p))
            return mac
        }
        let i = Int(p.rawValue)
        pool.meta[i].bridgedDNATPort = ingress
        pool.meta[i].bridgedDNATSource = MACAddress(loading: pool.data(p) + 6)
        pool.pull(p, EthernetHeader.length)
        neighbourOutput(ns, device: bridgeDevice, nextHop: nextHop, p, after: n.costs.bridge)
        return nil
    }

    /// `br_nf_forward_ip` then `br_nf_post_routing`: filter FORWARD and nat POSTROUTING (with
    /// conntrack's confirm) for a frame bridged from port to port; iptables sees the bridge
    /// device as both input and output (so MASQUERADE picks its address, REFERENCE.md §5.8).
    func brNetfilterForward(_ b: BridgeID, _ st: NetfilterState, _ ns: NamespaceID, _ p: PacketHandle) -> Bool {
        let bridgeDevice = bridges[Int(b.rawValue)].device
        return nfFilter(ns, st, p, ipOffset: EthernetHeader.length, hook: .forward, inDevice: bridgeDevice, outDevice: bridgeDevice)
            && nfPostroutingOrInput(ns, st, p, ipOffset: EthernetHeader.length, hook: .postrouting, inDevice: bridgeDevice,
                                    outDevice: bridgeDevice)
    }

    /// The forwarding decision for a frame from `ingress` (`.none` for frames the host sends
    /// on the bridge device), as a value so tests can assert on it.
    public func bridgeDecide(_ b: BridgeID, ingress: DeviceID, destination dst: MACAddress) -> BridgeDecision {
        let bi = Int(b.rawValue)
        if dst.isMulticast { return .flood(passUp: ingress != .none) }
        // Read-only unless the entry aged out (then `lookup` removes it): no write to
        // `bridges` per frame.
        guard let e = bridges[bi].fdb.entry(dst) else { return .flood(passUp: false) }
        if bridges[bi].fdb.isExpired(e, now: now) {
            _ = bridges[bi].fdb.lookup(dst, now: now)
            return .flood(passUp: false)
        }
        if e.isLocal { return ingress == .none ? .drop(.otherHost) : .passUp }
        if e.port == ingress && !devices[ingress.index].hairpin { return .drop(.bridgeNoHairpin) }
        return .forward(e.port)
    }

    /// `br_flood`: every port in port-list order except the ingress one (unless hairpin),
    /// then `br_pass_frame_up` if asked.
    func bridgeFlood(_ b: BridgeID, ingress: DeviceID, _ p: PacketHandle, passUp: Bool) {
        let bridge = bridges[Int(b.rawValue)]
        let ns = devices[bridge.device.index].namespace
        let costs = namespaces[ns.index].costs
        let onCPU = namespaces[ns.index].cpu >= 0
        var delay = costs.bridge
        var targets = 0
        for port in bridge.ports where bridgeShouldDeliver(port, ingress: ingress) { targets += 1 }
        var remaining = targets + (passUp ? 1 : 0)
        if remaining == 0 {
            drop(p, .bridgeNoHairpin, ns: devices[bridge.device.index].namespace, device: ingress)
            return
        }
        for port in bridge.ports where bridgeShouldDeliver(port, ingress: ingress) {
            remaining -= 1
            let copy = remaining == 0 ? p : clonePacket(p)
            if onCPU {
                // On a CPU each copy is work after the previous one.
                stage(.transmit(port, copy), copy, in: ns, cost: delay)
                delay = costs.bridgeFloodCopy
            } else {
                schedule(.transmit(port, copy), after: delay)
                delay += costs.bridgeFloodCopy
            }
        }
        if passUp { bridgePassUp(b, p) }
    }

    /// `should_deliver`: port up and (not the ingress port, or hairpin on).
    @inline(__always) func bridgeShouldDeliver(_ port: DeviceID, ingress: DeviceID) -> Bool {
        devices[port.index].isUp && (port != ingress || devices[port.index].hairpin)
    }

    /// `br_pass_frame_up`: the frame is received by the bridge device itself — the only way
    /// a bridged frame shows in a non-promiscuous capture of the bridge device.
    ///
    /// A datagram conntrack's defrag gathered at the bridge's PREROUTING is one skb in the
    /// kernel when it is passed up: the bridge device counts and shows it once, whole (the
    /// kernel twin single-node-fragments' cni0). podwire's fragments travel on separately, so
    /// the first counts the datagram and its capture shows the datagram reassembled (when it
    /// passes up while the rest wait in `gatheredFollowers`, as it does straight from
    /// defrag); the rest pass up unseen.
    func bridgePassUp(_ b: BridgeID, _ p: PacketHandle) {
        let dev = bridges[Int(b.rawValue)].device
        let i = Int(p.rawValue)
        if pool.meta[i].follower {
            netifReceive(dev, p)
            return
        }
        // `br_pass_frame_up` counts skb->len, which no longer holds the Ethernet header: the
        // kernel twin's cni0 counted 236 bytes for 7 frames of 334 (NetfilterKernelTwinTests).
        let whole = Int(pool.meta[i].datagramLength)
        devices[dev.index].counters.received(whole != 0 ? whole : pool.length(p) - EthernetHeader.length)
        if whole != 0 && observed && !gatheredFollowers.isEmpty {
            emitHop(.deviceRx, devices[dev.index].namespace, dev, frame: reassembledFrame(p, ipLength: whole))
        } else {
            hop(.deviceRx, devices[dev.index].namespace, dev, p)
        }
        netifReceive(dev, p)
    }

    /// The Ethernet frame of the datagram whose first fragment is `p` (at an Ethernet header)
    /// and whose other fragments wait in `gatheredFollowers`, as `ip_frag_reasm` makes it: the
    /// first fragment's headers with the whole length, no fragment bits (DF kept) and a new
    /// header checksum, then every fragment's data at its offset. Built in `scratch`.
    func reassembledFrame(_ p: PacketHandle, ipLength: Int) -> UnsafeRawBufferPointer {
        let first = UnsafeRawBufferPointer(pool.bytes(p))
        let total = EthernetHeader.length + ipLength
        let out = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<min(total, scratch.count)])
        out.copyMemory(from: UnsafeRawBufferPointer(rebasing: first[0..<min(first.count, out.count)]))
        let ip = out.baseAddress! + EthernetHeader.length
        let hl = Int(ip.load(as: UInt8.self) & 0x0F) * 4
        for f in gatheredFollowers {
            let frame = UnsafeRawBufferPointer(pool.bytes(f))
            let fip = frame.baseAddress! + EthernetHeader.length
            let fhl = Int(fip.load(as: UInt8.self) & 0x0F) * 4
            let flength = Int(UInt16(bigEndian: fip.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            let offset = Int(UInt16(bigEndian: fip.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) & 0x1FFF) * 8
            let data = flength - fhl
            guard EthernetHeader.length + hl + offset + data <= out.count, EthernetHeader.length + fhl + data <= frame.count
            else { continue }
            (ip + hl + offset).copyMemory(from: fip + fhl, byteCount: data)
        }
        ip.storeBytes(of: UInt16(ipLength).bigEndian, toByteOffset: 2, as: UInt16.self)
        let flags = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) & 0x4000
        ip.storeBytes(of: flags.bigEndian, toByteOffset: 6, as: UInt16.self)
        ip.storeBytes(of: 0, toByteOffset: 10, as: UInt16.self)
        var sum = InternetChecksum()
        sum.add(UnsafeRawBufferPointer(start: ip, count: hl))
        ip.storeBytes(of: sum.finalize().bigEndian, toByteOffset: 10, as: UInt16.self)
        return UnsafeRawBufferPointer(out)
    }

    /// `br_dev_xmit`: the host sends on the bridge device (already counted and captured
    /// as the bridge device's transmit): forward by FDB, or flood to every port.
    func bridgeDeviceTransmit(_ b: BridgeID, _ p: PacketHandle) {
        let frame = UnsafeRawBufferPointer(pool.bytes(p))
        let dst = MACAddress(loading: frame.baseAddress!)
        let dev = bridges[Int(b.rawValue)].device
        let i = Int(p.rawValue)
        if pool.meta[i].bridgedDNATPort != .none, let st = namespaces[devices[dev.index].namespace.index].netfilter {
            // `br_nf_pre_routing_finish_bridge_slow`: bridged DNAT, its neighbour now resolved.
            let ingress = pool.meta[i].bridgedDNATPort
            pool.meta[i].bridgedDNATPort = .none
            pool.meta[i].bridgedDNATSource.store(to: pool.data(p) + 6)
            bridges[Int(b.rawValue)].fdb.learn(pool.meta[i].bridgedDNATSource, port: ingress, now: now)
            bridgeForward(b, ingress: ingress, p, destination: dst, netfilter: st)
            return
        }
        switch bridgeDecide(b, ingress: .none, destination: dst) {
        case .forward(let port):
            let ns = devices[dev.index].namespace
            stage(.transmit(port, p), p, in: ns, cost: namespaces[ns.index].costs.bridge)
        case .flood:
            bridgeFlood(b, ingress: .none, p, passUp: false)
        case .passUp:
            netifReceive(dev, p)
        case .drop(let reason):
            drop(p, reason, ns: devices[dev.index].namespace, device: dev)
        }
    }

    @inline(__always) func clonePacket(_ p: PacketHandle) -> PacketHandle {
        accounting.cloned += 1
        let c = pool.clone(p)
        copyCore(from: p, to: c)
        return c
    }
}

extension DeviceCounters {
    /// One frame of `bytes` received: both counters in one access (one uniqueness check of
    /// `World.devices` per hop instead of one per field).
    @inline(__always) mutating func received(_ bytes: Int) {
        rxPackets += 1
        rxBytes += UInt64(bytes)
    }

    /// One frame of `bytes` sent.
    @inline(__always) mutating func transmitted(_ bytes: Int) {
        txPackets += 1
        txBytes += UInt64(bytes)
    }
}

extension Device {
    /// Frames whose start time has passed are on the wire or gone: drops them from the queue
    /// of start times. Returns how many frames still wait. (One access to `World.devices`.)
    @inline(__always) mutating func pruneWireQueue(now: SimTime) -> Int {
        while queueHead < queuedStarts.count, queuedStarts[queueHead] <= now { queueHead += 1 }
        if queueHead == queuedStarts.count && queueHead > 0 {
            // Only when something was queued: `removeAll` on an empty array still costs a
            // generic `replaceSubrange` (~50 instructions per frame on the wire).
            queuedStarts.removeAll(keepingCapacity: true)
            queueHead = 0
        }
        return queuedStarts.count - queueHead
    }

    /// A frame takes the wire from `start` (queued when that is later than `now`) until `end`.
    @inline(__always) mutating func occupyWire(until end: SimTime, start: SimTime, now: SimTime) {
        wireFreeAt = end
        if start > now { queuedStarts.append(start) }
    }
}
