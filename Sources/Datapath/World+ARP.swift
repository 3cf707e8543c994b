import Engine
import Wire

/// ARP and neighbour resolution (net/ipv4/arp.c, net/core/neighbour.c).
extension World {
    /// `neigh_output`: put the Ethernet header on an IPv4 packet for `nextHop` on `device`
    /// and transmit it after `delay` — or queue it while the neighbour is being resolved.
    func neighbourOutput(_ ns: NamespaceID, device dev: DeviceID, nextHop: IPv4Address, _ p: PacketHandle,
                         after delay: SimDuration) {
        let mac = devices[dev.index].mac
        if devices[dev.index].kind == .loopback {
            pushEthernet(p, destination: .zero, source: .zero)
            stage(.transmit(dev, p), p, in: ns, cost: delay)
            return
        }
        if isBroadcast(nextHop, on: dev) {
            pushEthernet(p, destination: .broadcast, source: mac)
            stage(.transmit(dev, p), p, in: ns, cost: delay)
            return
        }
        let n = namespaces[ns.index]
        guard let i = n.neighbours.find(nextHop, device: dev) else {
            let e = NeighbourEntry(address: nextHop, device: dev, mac: nil, state: .incomplete, confirmed: .zero,
                                   used: now, reachableTime: randomReachableTime(n))
            let idx = n.neighbours.insert(e)
            enqueue(n, idx, p)
            solicit(ns, idx)
            return
        }
        let idx = Int(i)
        guard n.neighbours.useForOutput(idx, now: now) != nil || neighbourEventSend(ns, n, i, p) else { return }
        pushEthernet(p, destination: n.neighbours.entries[idx].mac!, source: mac)
        stage(.transmit(dev, p), p, in: ns, cost: delay)
    }

    /// `neigh_event_send` for an entry that cannot send right away (`useForOutput` said
    /// nil, and marked it used): a REACHABLE entry past its reachable time turns STALE; a
    /// STALE one in use waits `delay_first_probe_time` (DELAY) for a confirmation, then
    /// probes; INCOMPLETE queues the packet; FAILED restarts resolution. True when the
    /// packet may go now, false when it was queued.
    @inline(never)
    private func neighbourEventSend(_ ns: NamespaceID, _ n: Namespace, _ i: Int32, _ p: PacketHandle) -> Bool {
        let idx = Int(i)
        var state = n.neighbours.entries[idx].state
        if state == .reachable, now - n.neighbours.entries[idx].confirmed >= n.neighbours.entries[idx].reachableTime {
            state = .stale
            n.neighbours.entries[idx].state = .stale
        }
        switch state {
        case .reachable, .delay, .probe, .permanent:
            return true
        case .stale:
            n.neighbours.entries[idx].state = .delay
            n.neighbours.entries[idx].generation &+= 1
            scheduler.schedule(.neighbourTimer(ns, i, n.neighbours.entries[idx].generation),
                               after: n.neighbours.parameters.delayFirstProbeTime)
            return true
        case .incomplete:
            enqueue(n, i, p)
            return false
        case .failed:
            // A send on a FAILED entry restarts resolution.
            n.neighbours.entries[idx].state = .incomplete
            n.neighbours.entries[idx].probes = 0
            enqueue(n, i, p)
            solicit(ns, i)
            return false
        }
    }

    @inline(__always) func pushEthernet(_ p: PacketHandle, destination: MACAddress, source: MACAddress,
                                        type: EtherType = .ipv4) {
        let h = pool.push(p, EthernetHeader.length)
        EthernetHeader(destination: destination, source: source, etherType: type)
            .emit(into: UnsafeMutableRawBufferPointer(start: h, count: EthernetHeader.length))
    }

    private func randomReachableTime(_ n: Namespace) -> SimDuration {
        // neigh_rand_reach_time: uniform in [base/2, 3·base/2).
        let base = n.neighbours.parameters.baseReachableTime.nanoseconds
        return .nanoseconds(base / 2 + Int64(n.random.next() % UInt64(base)))
    }

    /// Queues `p` on an unresolved entry; over `unres_qlen_bytes` the oldest packets are
    /// dropped (`__neigh_event_send`).
    private func enqueue(_ n: Namespace, _ idx: Int32, _ p: PacketHandle) {
        let i = Int(idx)
        let cost = NeighbourParameters.queueCost(ipLength: pool.length(p))
        while n.neighbours.entries[i].queueBytes + cost > n.neighbours.parameters.unresolvedQueueBytes,
              !n.neighbours.entries[i].queue.isEmpty {
            let old = n.neighbours.entries[i].queue.removeFirst()
            n.neighbours.entries[i].queueBytes -= NeighbourParameters.queueCost(ipLength: pool.length(old))
            drop(old, .neighbourQueueFull, ns: n.id, device: n.neighbours.entries[i].device)
        }
        n.neighbours.entries[i].queue.append(p)
        n.neighbours.entries[i].queueBytes += cost
    }

    /// Sends one solicitation for an INCOMPLETE entry (broadcast) or a PROBE entry
    /// (unicast to the cached MAC) and arms the retransmit timer.
    private func solicit(_ ns: NamespaceID, _ idx: Int32) {
        let n = namespaces[ns.index]
        let i = Int(idx)
        let e = n.neighbours.entries[i]
        // arp_solicit with arp_announce = 0: the queued packet's source if it is ours,
        // else the device's primary address.
        var source = devices[e.device.index].addresses.first?.address ?? .any
        if let q = e.queue.first {
            let s = IPv4Address(loading: pool.data(q) + IPv4Header.sourceOffset)
            if n.isLocal(s) { source = s }
        }
        let ethDst: MACAddress = e.state == .probe ? (e.mac ?? .broadcast) : .broadcast
        sendARP(ns, device: e.device, operation: .request, ethernetDestination: ethDst,
                senderIP: source, targetMAC: .zero, targetIP: e.address)
        n.neighbours.entries[i].probes += 1
        n.neighbours.entries[i].generation &+= 1
        scheduler.schedule(.neighbourTimer(ns, idx, n.neighbours.entries[i].generation),
                           after: n.neighbours.parameters.retransmitTime)
    }

    /// `neigh_timer_handler`.
    func neighbourTimer(_ ns: NamespaceID, _ idx: Int32, _ generation: UInt32) {
        let n = namespaces[ns.index]
        let i = Int(idx)
        guard n.neighbours.entries[i].generation == generation else { return }
        let params = n.neighbours.parameters
        switch n.neighbours.entries[i].state {
        case .incomplete:
            if n.neighbours.entries[i].probes >= params.multicastSolicit {
                neighbourFailed(ns, idx)
            } else {
                solicit(ns, idx)
            }
        case .delay:
            if now - n.neighbours.entries[i].confirmed <= params.delayFirstProbeTime {
                n.neighbours.entries[i].state = .reachable
            } else {
                n.neighbours.entries[i].state = .probe
                n.neighbours.entries[i].probes = 0
                solicit(ns, idx)
            }
        case .probe:
            if n.neighbours.entries[i].probes >= params.unicastSolicit {
                neighbourFailed(ns, idx)
            } else {
                solicit(ns, idx)
            }
        default:
            break
        }
    }

    /// Resolution gave up: every waiting packet is dropped, and its sender gets ICMP host
    /// unreachable (`arp_error_report` → `ip_link_failure`) — a local sender through `lo`.
    private func neighbourFailed(_ ns: NamespaceID, _ idx: Int32) {
        let n = namespaces[ns.index]
        let i = Int(idx)
        n.neighbours.entries[i].state = .failed
        n.neighbours.entries[i].generation &+= 1
        let queue = n.neighbours.entries[i].queue
        n.neighbours.entries[i].queue = []
        n.neighbours.entries[i].queueBytes = 0
        for p in queue {
            sendICMPError(ns, about: p, type: .destinationUnreachable, code: ICMPv4UnreachableCode.host)
            drop(p, .neighbourFailed, ns: ns, device: n.neighbours.entries[i].device)
        }
    }

    /// `neigh_update` with a link-layer address: a reply to us confirms (REACHABLE); a
    /// request or gratuitous frame makes the entry STALE unless the address is unchanged
    /// and the entry already valid. Waiting packets leave now.
    private func neighbourUpdate(_ ns: NamespaceID, _ idx: Int32, mac: MACAddress, confirmed: Bool) {
        let n = namespaces[ns.index]
        let i = Int(idx)
        let old = n.neighbours.entries[i]
        if old.state == .permanent { return }
        if confirmed {
            n.neighbours.entries[i].state = .reachable
            n.neighbours.entries[i].confirmed = now
            n.neighbours.entries[i].generation &+= 1
        } else if old.mac != mac || old.state == .incomplete || old.state == .failed {
            n.neighbours.entries[i].state = .stale
            n.neighbours.entries[i].generation &+= 1
        }
        n.neighbours.entries[i].mac = mac
        let queue = old.queue
        if queue.isEmpty { return }
        n.neighbours.entries[i].queue = []
        n.neighbours.entries[i].queueBytes = 0
        let dev = old.device
        for p in queue {
            pushEthernet(p, destination: mac, source: devices[dev.index].mac)
            // `__neigh_update` sends the queue at once, in the softirq that took the reply: on
            // that core, as work right after the reply's (a continuation), so packets already
            // waiting in its backlog do not overtake them. As a plain event they went behind
            // that backlog: an iperf3 flow's first two datagrams reached the pod swapped
            // ("out-of-order 1").
            if dispatchingCore >= 0 { onCore(Int32(dispatchingCore), ns, p) }
            stage(.transmit(dev, p), p, in: ns, cost: .zero)
        }
        if n.neighbours.entries[i].state == .stale {
            // The queued packets used the entry: STALE → DELAY.
            n.neighbours.entries[i].state = .delay
            n.neighbours.entries[i].generation &+= 1
            scheduler.schedule(.neighbourTimer(ns, idx, n.neighbours.entries[i].generation),
                               after: n.neighbours.parameters.delayFirstProbeTime)
        }
    }

    /// `arp_rcv` → `arp_process` on `dev` (the packet starts at its Ethernet header).
    func arpReceive(_ dev: DeviceID, _ p: PacketHandle) {
        let ns = devices[dev.index].namespace
        let frame = UnsafeRawBufferPointer(pool.bytes(p))
        guard let arp = try? ARPPacket(parsing: UnsafeRawBufferPointer(rebasing: frame[EthernetHeader.length...])) else {
            drop(p, .malformed, ns: ns, device: dev)
            return
        }
        let n = namespaces[ns.index]
        let sip = arp.senderProtocolAddress, sha = arp.senderHardwareAddress
        let forUs = n.isLocal(arp.targetProtocolAddress) && !n.isLocal(sip)
        if arp.operation == .request && forUs {
            // Reply (arp_ignore = 0: any local address), and learn the requester as STALE
            // (neigh_event_ns), so the replier never has to ask back.
            sendARP(ns, device: dev, operation: .reply, ethernetDestination: sha,
                    senderIP: arp.targetProtocolAddress, targetMAC: sha, targetIP: sip)
            if let i = n.neighbours.find(sip, device: dev) {
                neighbourUpdate(ns, i, mac: sha, confirmed: false)
            } else {
                _ = n.neighbours.insert(NeighbourEntry(address: sip, device: dev, mac: sha, state: .stale,
                                                       confirmed: .zero, used: .zero,
                                                       reachableTime: randomReachableTime(n)))
            }
            deliver(p, ns: ns, device: dev)
            return
        }
        // Otherwise only an existing entry is updated; a unicast reply to us confirms it.
        if let i = n.neighbours.find(sip, device: dev) {
            let eth = MACAddress(loading: frame.baseAddress!)
            let confirmed = arp.operation == .reply && eth == devices[dev.index].mac
            neighbourUpdate(ns, i, mac: sha, confirmed: confirmed)
            if confirmed {
                deliver(p, ns: ns, device: dev)
                return
            }
        }
        drop(p, .arpNotForUs, ns: ns, device: dev)
    }

    /// `arp_send`: a 42-byte ARP frame (no padding on veth, REFERENCE.md §3).
    func sendARP(_ ns: NamespaceID, device dev: DeviceID, operation: ARPOperation, ethernetDestination: MACAddress,
                 senderIP: IPv4Address, targetMAC: MACAddress, targetIP: IPv4Address) {
        let mac = devices[dev.index].mac
        let p = newPacket()
        pool.setLength(p, ARPPacket.length)
        ARPPacket(operation: operation, senderHardwareAddress: mac, senderProtocolAddress: senderIP,
                  targetHardwareAddress: targetMAC, targetProtocolAddress: targetIP).emit(into: pool.bytes(p))
        pushEthernet(p, destination: ethernetDestination, source: mac, type: .arp)
        stage(.transmit(dev, p), p, in: ns, cost: namespaces[ns.index].costs.localOutput)
    }
}
