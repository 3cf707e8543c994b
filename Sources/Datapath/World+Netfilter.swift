import Engine
import Wire

/// Netfilter in the datapath: the hooks (`NF_HOOK` calls in ip_input.c, ip_forward.c,
/// ip_output.c and br_netfilter), conntrack (`nf_conntrack_in`, `__nf_conntrack_confirm`) and
/// NAT (`nf_nat_inet_fn`, `nf_nat_manip_pkt`, `nf_nat_icmp_reply_translation`).
///
/// A namespace takes part only once `enableNetfilter` gave it rules and a conntrack table
/// (a node running kube-proxy and flanneld); every other namespace skips all of this with
/// one nil check.
///
/// Per packet the pool keeps the conntrack entry, its direction and the skb mark
/// (`PacketMeta`); crossing a veth scrubs them, as `skb_scrub_packet` does.
///
/// Fragments are gathered for conntrack (`nf_defrag_ipv4`, World+ConntrackDefrag.swift) but
/// travel on as fragments, not as one reassembled packet: the first counts the whole datagram
/// (`countedLength`), the others walk no rules and follow its verdicts.
public final class NetfilterState {
    public let rules: Netfilter
    public let conntrack: ConnectionTracker
    /// `net.bridge.bridge-nf-call-iptables` (br_netfilter): bridged IPv4 frames traverse
    /// the IPv4 hooks of the bridge's namespace.
    public var bridgeCallsIptables: Bool
    var random: SeededGenerator
    /// Datagrams conntrack's defrag has gathered so far: the last one's number.
    var datagrams: UInt32 = 0
    /// The last gathered datagram whose first fragment was dropped between the hooks
    /// (`nfDropped`): its followers are dropped with it, as the kernel's single skb would be
    /// (0: none).
    var droppedDatagram: UInt32 = 0

    init(rules: Netfilter, conntrack: ConnectionTracker, bridgeCallsIptables: Bool, random: SeededGenerator) {
        self.rules = rules
        self.conntrack = conntrack
        self.bridgeCallsIptables = bridgeCallsIptables
        self.random = random
    }
}

/// What a packet carries between hooks (`skb->_nfct`, `skb->mark`, br_netfilter's state).
public struct PacketMeta: Sendable {
    /// Conntrack entry, or -1.
    var conntrack: Int32 = -1
    var reply = false
    /// The entry was created by this packet and is not confirmed yet.
    var unconfirmed = false
    /// An ICMP error RELATED to `conntrack`.
    var related = false
    /// br_netfilter already ran PREROUTING for this packet (skip it in `ip_rcv`).
    var preroutingDone = false
    var mark: UInt32 = 0
    /// Conntrack's defrag already gathered this fragment's datagram (`nf_defrag_ipv4`).
    var defragmented = false
    /// A fragment after the first of a tracked datagram: it follows the first fragment's
    /// entry, which it checks by `entryTag` (the entry may be gone if the first was dropped).
    var follower = false
    var entryTag: UInt32 = 0
    /// The defragmented datagram this fragment belongs to (`NetfilterState.datagrams`), 0: none.
    var datagram: UInt32 = 0
    /// The first fragment of a defragmented datagram: the datagram's whole IPv4 length, which
    /// the hooks, rules and conntrack count (the kernel's one reassembled skb); 0 otherwise.
    var datagramLength: UInt16 = 0
    /// Bridged DNAT waiting for its new neighbour (`nf_bridge->bridged_dnat`): the bridge port
    /// the frame came in on (`physindev`), or `DeviceID.none`, and its Ethernet source
    /// (`neigh_header`), which the frame gets back once it has left the bridge device.
    var bridgedDNATPort = DeviceID.none
    var bridgedDNATSource = MACAddress.zero

    static let none = PacketMeta()
}

/// Which address a NAT step rewrites: the destination (PREROUTING, OUTPUT) or the source
/// (POSTROUTING, INPUT).
enum NATManip { case destination, source }

extension World {
    /// Where a flow's packets came from as their receiver saw them, after NAT: for every
    /// node whose conntrack held the flow `original` at `time` and rewrote its source (SNAT,
    /// MASQUERADE `--random-fully`), the reply tuple's destination. What a real iperf3 server
    /// learns from the packets themselves, and its client over the control connection that
    /// podwire does not model. Allocates: for reports, not the datapath.
    public func natSources(of original: ConntrackTuple, at time: SimTime) -> [(address: IPv4Address, port: UInt16)] {
        var out: [(address: IPv4Address, port: UInt16)] = []
        for n in namespaces {
            guard let st = n.netfilter else { continue }
            for e in st.conntrack.entries(now: time) where e.original == original && e.status.contains(.srcNAT) {
                out.append((e.reply.destination, e.reply.destinationPort))
            }
        }
        return out
    }

    /// The sources a receiver may have seen a UDP flow come from: the sender's own address
    /// and port, then any SNAT of it (`natSources`). For reports that pair a sender with the
    /// receiver's per-sender counts.
    public func receiverSources(ofUDPFrom source: IPv4Address, port sourcePort: UInt16, to destination: IPv4Address,
                                port destinationPort: UInt16, at time: SimTime) -> [(address: IPv4Address, port: UInt16)] {
        let flow = ConntrackTuple(source: source, destination: destination, sourcePort: sourcePort,
                                  destinationPort: destinationPort, protocolNumber: ConntrackTuple.udpProtocol)
        return [(source, sourcePort)] + natSources(of: flow, at: time)
    }

    /// Gives namespace `ns` netfilter: `ruleset` (what iptables-restore would load) and a
    /// conntrack table of `conntrackMax` entries.
    public func enableNetfilter(_ ns: NamespaceID, ruleset: NetfilterRuleset, conntrackMax: Int,
                                bridgeCallsIptables: Bool = true) throws(NetfilterError) {
        let n = namespaces[ns.index]
        let rules = try Netfilter(ruleset) { name in
            for d in n.devices where self.devices[d.index].name == name { return d.rawValue }
            return nil
        }
        let seed = random.stream("conntrack/\(n.name)").seed
        rules.memoizesWalks = shortcuts.contains(.rememberedWalks)
        n.netfilter = NetfilterState(rules: rules, conntrack: ConnectionTracker(maximum: conntrackMax, seed: seed),
                                     bridgeCallsIptables: bridgeCallsIptables, random: random.stream("netfilter/\(n.name)"))
    }

    // MARK: - Tuples

    /// The conntrack view of the IPv4 packet at `ip`: its tuple, or for an ICMP error the
    /// tuple of the datagram it quotes (offset of the quote in `quote`). Nil: untracked
    /// (fragments, truncated, protocols without a tuple podwire models).
    @inline(__always)
    func conntrackTuple(_ ip: UnsafeRawPointer, length: Int, firstFragment: Bool = false) -> (tuple: ConntrackTuple, quote: Int)? {
        guard length >= 20 else { return nil }
        let hl = Int(ip.load(as: UInt8.self) & 0x0F) * 4
        let flags = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        // MF or an offset: a fragment (only a datagram's first one, once defrag has the
        // whole datagram, has the ports of the flow)
        if flags & (firstFragment ? 0x1FFF : 0x3FFF) != 0 { return nil }
        let proto = ip.load(fromByteOffset: 9, as: UInt8.self)
        let src = IPv4Address(loading: ip + 12), dst = IPv4Address(loading: ip + 16)
        let l4 = ip + hl
        switch proto {
        case 17, 6:
            guard length >= hl + 4 else { return nil }
            return (ConntrackTuple(source: src, destination: dst,
                                   sourcePort: UInt16(bigEndian: l4.loadUnaligned(as: UInt16.self)),
                                   destinationPort: UInt16(bigEndian: l4.loadUnaligned(fromByteOffset: 2, as: UInt16.self)),
                                   protocolNumber: proto), 0)
        case 1:
            guard length >= hl + 8 else { return nil }
            let type = l4.load(as: UInt8.self), code = l4.load(fromByteOffset: 1, as: UInt8.self)
            switch type {
            case 0, 8, 13, 14, 15, 16, 17, 18:
                let id = UInt16(bigEndian: l4.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
                return (ConntrackTuple(source: src, destination: dst, sourcePort: id,
                                       destinationPort: UInt16(type) << 8 | UInt16(code), protocolNumber: 1), 0)
            case 3, 4, 5, 11, 12:
                let q = hl + 8
                guard length >= q + 20 + 8, let inner = conntrackTuple(ip + q, length: length - q), inner.quote == 0 else { return nil }
                return (inner.tuple, q)
            default:
                return nil
            }
        default:
            return (ConntrackTuple(source: src, destination: dst, sourcePort: 0, destinationPort: 0, protocolNumber: proto), 0)
        }
    }

    // MARK: - Hooks

    /// PREROUTING (or OUTPUT for a local packet): attach conntrack (creating an
    /// unconfirmed entry for a new flow), run the nat table's DNAT for a new flow, apply the
    /// flow's destination manipulation, then — for OUTPUT — the filter table.
    /// Returns false when the packet was consumed (dropped).
    /// `bridgePort`: the port a bridged frame came in on (br_netfilter), so a fragment
    /// conntrack's defrag holds can resume there.
    func nfPreroutingOrOutput(_ ns: NamespaceID, _ st: NetfilterState, _ p: PacketHandle, ipOffset: Int, hook: NetfilterHook,
                              inDevice: DeviceID, outDevice: DeviceID, bridgePort: DeviceID = .none) -> Bool {
        let ip = pool.data(p) + ipOffset
        let length = pool.length(p) - ipOffset
        let i = Int(p.rawValue)
        if hook == .prerouting && !pool.meta[i].defragmented
            && UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) & 0x3FFF != 0 {
            conntrackDefragment(ns, st, p, ipOffset: ipOffset, inDevice: inDevice, bridgePort: bridgePort)
            return false
        }
        guard followerIsLive(ns, st, p, device: inDevice == .none ? outDevice : inDevice) else { return false }
        if pool.meta[i].defragmented && pool.meta[i].conntrack >= 0 {
            // A fragment of a datagram defrag gathered: the datagram's entry is attached already.
            natApply(st, p, ip, entry: ConntrackEntryID(rawValue: pool.meta[i].conntrack), reply: pool.meta[i].reply,
                     manip: .destination)
            return hook == .output ? nfFilter(ns, st, p, ipOffset: ipOffset, hook: .output, inDevice: inDevice, outDevice: outDevice) : true
        }
        guard let (tuple, quote) = conntrackTuple(ip, length: length) else {
            return hook == .output ? nfFilter(ns, st, p, ipOffset: ipOffset, hook: .output, inDevice: inDevice, outDevice: outDevice) : true
        }
        if quote != 0 {
            // An ICMP error: RELATED to the flow it quotes, if that flow is tracked (or, for
            // an error this host makes, to the flow of the packet it is about).
            if pool.meta[i].conntrack < 0, let (id, dir) = st.conntrack.find(tuple.inverted, now: now) {
                pool.meta[i].conntrack = id.rawValue
                pool.meta[i].reply = dir == .reply
                pool.meta[i].related = true
            }
            if pool.meta[i].conntrack >= 0 {
                natICMPError(st, ip, length: length, quote: quote, entry: ConntrackEntryID(rawValue: pool.meta[i].conntrack),
                             reply: pool.meta[i].reply, manip: .destination)
            }
            return hook == .output ? nfFilter(ns, st, p, ipOffset: ipOffset, hook: .output, inDevice: inDevice, outDevice: outDevice) : true
        }
        if pool.meta[i].conntrack < 0 {
            guard conntrackAttach(ns, st, p, ip: ip, length: length, tuple: tuple, hook: hook, inDevice: inDevice,
                                  outDevice: outDevice) else { return false }
        }
        natApply(st, p, ip, entry: ConntrackEntryID(rawValue: pool.meta[i].conntrack), reply: pool.meta[i].reply, manip: .destination)
        if hook == .output {
            return nfFilter(ns, st, p, ipOffset: ipOffset, hook: .output, inDevice: inDevice, outDevice: outDevice)
        }
        return true
    }

    /// `nf_conntrack_in` for a packet without an entry: find its flow, or create an
    /// unconfirmed entry and run the nat table's DNAT for it. `length`: what the entry and
    /// the rules count (a gathered datagram's whole length). Returns false when the packet
    /// was dropped (table full).
    func conntrackAttach(_ ns: NamespaceID, _ st: NetfilterState, _ p: PacketHandle, ip: UnsafeMutableRawPointer, length: Int,
                         tuple: ConntrackTuple, hook: NetfilterHook, inDevice: DeviceID, outDevice: DeviceID) -> Bool {
        let i = Int(p.rawValue)
        if let (id, dir) = st.conntrack.find(tuple, now: now) {
            charge(ns, p, namespaces[ns.index].costs.conntrackLookup)
            pool.meta[i].conntrack = id.rawValue
            pool.meta[i].reply = dir == .reply
            st.conntrack.packet(id, direction: dir, length: length, now: now)
        } else {
            charge(ns, p, namespaces[ns.index].costs.conntrackNew)
            st.conntrack.cpu = nodeCore(ns, p)
            guard let id = st.conntrack.create(original: tuple, now: now) else {
                drop(p, .conntrackTableFull, ns: ns, device: inDevice == .none ? outDevice : inDevice)
                return false
            }
            pool.meta[i].conntrack = id.rawValue
            pool.meta[i].reply = false
            pool.meta[i].unconfirmed = true
            if st.rules.isEmpty(.nat, hook) {
                st.rules.countPolicy(.nat, hook, length: length)
            } else {
                var pkt = netfilterPacket(ns, st, p, ip: ip, length: length, tuple: tuple, inDevice: inDevice, outDevice: outDevice)
                let verdict = nfEvaluate(ns, st, p, .nat, hook, &pkt)
                pool.meta[i].mark = pkt.mark
                if case .dnat(let address, let port) = verdict {
                    var reply = st.conntrack.entry(id).reply
                    reply.source = address
                    if let port { reply.sourcePort = port }
                    st.conntrack.setReply(id, reply)
                }
            }
        }
        return true
    }

    /// `ipt_do_table` for `p`: the verdict, with the CPU time of the hook and of every rule
    /// examined charged to `p`'s core (`StageCosts.netfilterHook`, `.iptablesRule`). The walk
    /// is what iptables would do — kube-proxy's KUBE-SERVICES grows with the Services — so
    /// the simulated cost grows with it, whatever podwire's own lookup costs.
    @inline(__always)
    func nfEvaluate(_ ns: NamespaceID, _ st: NetfilterState, _ p: PacketHandle, _ table: NetfilterTableName,
                    _ hook: NetfilterHook, _ pkt: inout NetfilterPacket) -> NetfilterVerdict {
        let before = st.rules.rulesWalked
        let verdict = st.rules.evaluate(table, hook, &pkt, now: now, random: &st.random)
        if namespaces[ns.index].cpu >= 0 {
            let costs = namespaces[ns.index].costs
            let rules = Int64(truncatingIfNeeded: st.rules.rulesWalked &- before)
            charge(ns, p, costs.netfilterHook + .nanoseconds(costs.iptablesRule.nanoseconds &* rules))
        }
        return verdict
    }

    /// The filter table at `hook` (INPUT, FORWARD, OUTPUT). DROP drops; REJECT sends its
    /// ICMP error about the packet, then drops. Returns false when the packet was consumed.
    func nfFilter(_ ns: NamespaceID, _ st: NetfilterState, _ p: PacketHandle, ipOffset: Int, hook: NetfilterHook,
                  inDevice: DeviceID, outDevice: DeviceID) -> Bool {
        guard followerIsLive(ns, st, p, device: inDevice == .none ? outDevice : inDevice) else { return false }
        // A fragment after the first: its datagram walked the rules with the first fragment
        // (and was counted once, at its whole length); it is still here, so it was accepted.
        if pool.meta[Int(p.rawValue)].follower { return true }
        let ip = pool.data(p) + ipOffset
        let length = pool.length(p) - ipOffset
        let counted = countedLength(p, length)
        if st.rules.isEmpty(.filter, hook) {
            st.rules.countPolicy(.filter, hook, length: counted)
            return true
        }
        let tuple = conntrackTuple(ip, length: length, firstFragment: pool.meta[Int(p.rawValue)].defragmented)?.tuple
            ?? ConntrackTuple(source: IPv4Address(loading: ip + 12), destination: IPv4Address(loading: ip + 16),
                              sourcePort: 0, destinationPort: 0, protocolNumber: ip.load(fromByteOffset: 9, as: UInt8.self))
        var pkt = netfilterPacket(ns, st, p, ip: ip, length: counted, tuple: tuple, inDevice: inDevice, outDevice: outDevice)
        let verdict = nfEvaluate(ns, st, p, .filter, hook, &pkt)
        pool.meta[Int(p.rawValue)].mark = pkt.mark
        switch verdict {
        case .accept:
            return true
        case .reject(let with):
            if ipOffset != 0 { pool.pull(p, ipOffset) }
            sendICMPError(ns, about: p, type: .destinationUnreachable, code: with.icmpCode)
            nfDropped(ns, st, p, .netfilterDrop, device: inDevice == .none ? outDevice : inDevice)
            return false
        default:
            nfDropped(ns, st, p, .netfilterDrop, device: inDevice == .none ? outDevice : inDevice)
            return false
        }
    }

    /// POSTROUTING (or INPUT for local delivery): the nat table's SNAT/MASQUERADE for a new
    /// flow, the flow's source manipulation, then confirm the entry (`ipv4_confirm`).
    /// Returns false when the packet was consumed.
    func nfPostroutingOrInput(_ ns: NamespaceID, _ st: NetfilterState, _ p: PacketHandle, ipOffset: Int, hook: NetfilterHook,
                              inDevice: DeviceID, outDevice: DeviceID) -> Bool {
        let i = Int(p.rawValue)
        if hook == .input, !nfFilter(ns, st, p, ipOffset: ipOffset, hook: .input, inDevice: inDevice, outDevice: outDevice) {
            return false
        }
        guard pool.meta[i].conntrack >= 0 else { return true }
        guard followerIsLive(ns, st, p, device: inDevice == .none ? outDevice : inDevice) else { return false }
        let id = ConntrackEntryID(rawValue: pool.meta[i].conntrack)
        let ip = pool.data(p) + ipOffset
        let length = pool.length(p) - ipOffset
        if pool.meta[i].related {
            if let quote = conntrackTuple(ip, length: length)?.quote, quote != 0 {
                natICMPError(st, ip, length: length, quote: quote, entry: id, reply: pool.meta[i].reply, manip: .source)
            }
            return true
        }
        if pool.meta[i].unconfirmed {
            st.conntrack.cpu = nodeCore(ns, p)
            let counted = countedLength(p, length)
            if st.rules.isEmpty(.nat, hook) {
                st.rules.countPolicy(.nat, hook, length: counted)
            } else if let tuple = conntrackTuple(ip, length: length, firstFragment: pool.meta[i].defragmented)?.tuple {
                var pkt = netfilterPacket(ns, st, p, ip: ip, length: counted, tuple: tuple, inDevice: inDevice, outDevice: outDevice)
                let verdict = nfEvaluate(ns, st, p, .nat, hook, &pkt)
                pool.meta[i].mark = pkt.mark
                var to: IPv4Address?
                var ports: ClosedRange<UInt16>?
                var randomFully = false
                switch verdict {
                case .snat(let a, let r, let rf): (to, ports, randomFully) = (a, r, rf)
                case .masquerade(let r, let rf):
                    to = outDevice == .none ? nil : devices[outDevice.index].addresses.first?.address
                    (ports, randomFully) = (r, rf)
                default: break
                }
                if let to {
                    var reply = st.conntrack.entry(id).reply
                    reply.destination = to
                    if tuple.protocolNumber == 1 {
                        // ICMP keeps its identifier (podwire does not remap echo ids).
                        if st.conntrack.isReplyTupleTaken(reply, ignoring: id) {
                            nfDropped(ns, st, p, .natNoFreePort, device: outDevice)
                            return false
                        }
                    } else {
                        guard let unique = st.conntrack.uniqueReplyTuple(reply, portRange: ports, randomFully: randomFully,
                                                                         random: &st.random, ignoring: id) else {
                            nfDropped(ns, st, p, .natNoFreePort, device: outDevice)
                            return false
                        }
                        reply = unique
                    }
                    st.conntrack.setReply(id, reply)
                }
            }
            natApply(st, p, ip, entry: id, reply: false, manip: .source)
            pool.meta[i].unconfirmed = false
            var entry = id
            switch st.conntrack.confirm(id, now: now) {
            case .confirmed, .insertedByReply: break
            case .merged(let winner):
                entry = winner
                pool.meta[i].conntrack = winner.rawValue
            case .failed:
                pool.meta[i].conntrack = -1
                drop(p, .conntrackInsertFailed, ns: ns, device: inDevice == .none ? outDevice : inDevice)
                return false
            }
            st.conntrack.packet(entry, direction: .original, length: counted, now: now)
            return true
        }
        natApply(st, p, ip, entry: id, reply: pool.meta[i].reply, manip: .source)
        return true
    }

    /// A packet dropped between the hooks: an entry it created is freed with it, and a
    /// defragmented datagram's first fragment takes the rest of the datagram with it.
    func nfDropped(_ ns: NamespaceID, _ st: NetfilterState, _ p: PacketHandle, _ reason: DropReason, device: DeviceID) {
        let i = Int(p.rawValue)
        if pool.meta[i].unconfirmed, pool.meta[i].conntrack >= 0 {
            st.conntrack.discard(ConntrackEntryID(rawValue: pool.meta[i].conntrack))
        }
        if pool.meta[i].datagramLength != 0 { st.droppedDatagram = pool.meta[i].datagram }
        pool.meta[i] = .none
        drop(p, reason, ns: ns, device: device)
    }

    /// The length the hooks, rules and conntrack count for `p`, whose IPv4 packet is `length`
    /// bytes here: a defragmented datagram's first fragment counts the whole datagram.
    @inline(__always) func countedLength(_ p: PacketHandle, _ length: Int) -> Int {
        let whole = pool.meta[Int(p.rawValue)].datagramLength
        return whole == 0 ? length : Int(whole)
    }

    /// The rules' view of the packet.
    @inline(__always)
    func netfilterPacket(_ ns: NamespaceID, _ st: NetfilterState, _ p: PacketHandle, ip: UnsafeMutableRawPointer, length: Int,
                         tuple: ConntrackTuple, inDevice: DeviceID, outDevice: DeviceID) -> NetfilterPacket {
        let i = Int(p.rawValue)
        var state: ConntrackStateSet = .untracked
        if pool.meta[i].conntrack >= 0 {
            let id = ConntrackEntryID(rawValue: pool.meta[i].conntrack)
            state = pool.meta[i].unconfirmed ? .new
                : st.conntrack.state(id, direction: pool.meta[i].reply ? .reply : .original)
            if pool.meta[i].related { state = state.subtracting([.new, .established]).union(.related) }
        }
        let n = namespaces[ns.index]
        return NetfilterPacket(source: tuple.source, destination: tuple.destination, protocolNumber: tuple.protocolNumber,
                               sourcePort: tuple.protocolNumber == 1 ? 0 : tuple.sourcePort,
                               destinationPort: tuple.protocolNumber == 1 ? 0 : tuple.destinationPort,
                               inInterface: inDevice.rawValue, outInterface: outDevice.rawValue, mark: pool.meta[i].mark,
                               conntrackState: state, length: length, sourceIsLocal: n.isLocal(tuple.source),
                               destinationIsLocal: n.isLocal(tuple.destination))
    }

    // MARK: - NAT

    /// `nf_nat_manip_pkt` for the packet at `ip` in the given direction: rewrite the
    /// destination (or source) address and port to what the flow's tuples say, with
    /// incremental checksum updates (RFC 1624) of the IP header and the UDP checksum.
    @inline(__always)
    func natApply(_ st: NetfilterState, _ p: PacketHandle, _ ip: UnsafeMutableRawPointer, entry: ConntrackEntryID, reply: Bool,
                  manip: NATManip) {
        let status = st.conntrack.status(entry)
        if !status.contains(.srcNAT) && !status.contains(.dstNAT) { return }
        // What packets of this direction look like after NAT: the other direction, inverted.
        let target = st.conntrack.tuple(entry, reply ? .original : .reply).inverted
        let length = pool.length(p) - (ip - pool.data(p))
        switch manip {
        case .destination:
            natRewrite(ip, length: length, address: target.destination, port: target.destinationPort, destination: true)
        case .source:
            natRewrite(ip, length: length, address: target.source, port: target.sourcePort, destination: false)
        }
    }

    /// Rewrites one address (and, for UDP, its port) of the IPv4 packet at `ip` when it
    /// differs, keeping every checksum valid.
    func natRewrite(_ ip: UnsafeMutableRawPointer, length: Int, address: IPv4Address, port: UInt16, destination: Bool) {
        let addressOffset = destination ? 16 : 12
        let old = IPv4Address(loading: ip + addressOffset)
        let hl = Int(ip.load(as: UInt8.self) & 0x0F) * 4
        // A fragment after the first carries no UDP header: only its IP header changes.
        let proto = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) & 0x1FFF != 0
            ? 0 : ip.load(fromByteOffset: 9, as: UInt8.self)
        if old != address {
            address.store(to: ip + addressOffset)
            let c = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 10, as: UInt16.self))
            ip.storeBytes(of: InternetChecksum.update(checksum: c, old: old.rawValue, new: address.rawValue).bigEndian,
                          toByteOffset: 10, as: UInt16.self)
            if proto == 17, length >= hl + 8 {
                let c = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: hl + 6, as: UInt16.self))
                if c != 0 {
                    Self.storeUDPChecksum(InternetChecksum.update(checksum: c, old: old.rawValue, new: address.rawValue), ip + hl + 6)
                }
            }
        }
        guard proto == 17, length >= hl + 8 else { return }
        let portOffset = hl + (destination ? 2 : 0)
        let oldPort = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: portOffset, as: UInt16.self))
        guard oldPort != port else { return }
        ip.storeBytes(of: port.bigEndian, toByteOffset: portOffset, as: UInt16.self)
        let c = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: hl + 6, as: UInt16.self))
        if c != 0 { Self.storeUDPChecksum(InternetChecksum.update(checksum: c, old: oldPort, new: port), ip + hl + 6) }
    }

    /// UDP sends a computed checksum of 0 as 0xFFFF (RFC 768; Linux `CSUM_MANGLED_0`).
    @inline(__always) static func storeUDPChecksum(_ c: UInt16, _ at: UnsafeMutableRawPointer) {
        at.storeBytes(of: (c == 0 ? 0xFFFF : c).bigEndian, as: UInt16.self)
    }

    /// `nf_nat_icmp_reply_translation`: an ICMP error about a NATed flow. The outer header
    /// gets the manipulation of its own direction; the quoted datagram (which went the other
    /// way) is put back to its un-NATed form, with the opposite manipulation; then the ICMP
    /// checksum is recomputed.
    func natICMPError(_ st: NetfilterState, _ ip: UnsafeMutableRawPointer, length: Int, quote: Int, entry: ConntrackEntryID,
                      reply: Bool, manip: NATManip) {
        // Only when the flow has this kind of NAT in this direction (the `statusbit` test).
        var bit: ConntrackStatus = manip == .source ? .srcNAT : .dstNAT
        if reply { bit = bit == .srcNAT ? .dstNAT : .srcNAT }
        guard st.conntrack.status(entry).contains(bit) else { return }
        let e = st.conntrack.entry(entry)
        let outer = reply ? e.original.inverted : e.reply.inverted
        // The quoted datagram travelled in the other direction; its un-NATed form:
        let inner = reply ? e.original : e.reply
        let innerLength = length - quote
        switch manip {
        case .destination:
            natRewrite(ip + quote, length: innerLength, address: inner.source, port: inner.sourcePort, destination: false)
            natRewrite(ip, length: quote, address: outer.destination, port: 0, destination: true)
        case .source:
            natRewrite(ip + quote, length: innerLength, address: inner.destination, port: inner.destinationPort, destination: true)
            natRewrite(ip, length: quote, address: outer.source, port: 0, destination: false)
        }
        let hl = Int(ip.load(as: UInt8.self) & 0x0F) * 4
        let msg = UnsafeMutableRawBufferPointer(start: ip + hl, count: length - hl)
        msg.storeBytes(of: 0, toByteOffset: 2, as: UInt16.self)
        var sum = InternetChecksum()
        sum.add(UnsafeRawBufferPointer(msg))
        msg.storeBytes(of: sum.finalize().bigEndian, toByteOffset: 2, as: UInt16.self)
    }
}
