import Engine
import Wire

/// Conntrack's defragmentation (`nf_defrag_ipv4`, hooked at PREROUTING before conntrack):
/// a node that tracks connections gathers every fragmented datagram before conntrack, NAT
/// and the rules see it, so the flow's ports are known and every fragment is translated
/// like the datagram.
///
/// The kernel then carries the datagram as one skb and cuts it again on output
/// (`ip_do_fragment` with `frag_max_size`). podwire's packets are single pool slots, so it
/// keeps the fragments: once the last one is in, the first goes through conntrack (find or
/// create the entry, DNAT), and every fragment resumes where it was taken — `ip_rcv`, or the
/// bridge's frame handling for br_netfilter — in offset order, carrying that entry. Fragments
/// after the first are *followers*: NAT rewrites only their IP headers (they have no UDP
/// header), and they walk no rules. The first fragment stands for the kernel's one skb: it
/// counts the datagram's whole length (`PacketMeta.datagramLength`) in every hook, rule and
/// conntrack entry and in the bridge device's receive counter, and the bridge device's
/// capture shows the datagram reassembled (`bridgePassUp`). Followers take its verdicts: if
/// it is dropped between the hooks (`nfDropped`), or dropped after creating the entry they
/// carry, they are dropped too (`followerIsLive`). The kernel twin single-node-fragments
/// holds every counter and capture to Linux's.
extension World {
    /// Takes fragment `p` (IPv4 header at `ipOffset`) into conntrack's reassembly; when it
    /// completes the datagram, the datagram goes on.
    func conntrackDefragment(_ ns: NamespaceID, _ st: NetfilterState, _ p: PacketHandle, ipOffset: Int, inDevice: DeviceID,
                             bridgePort: DeviceID) {
        let bytes = UnsafeRawBufferPointer(rebasing: pool.bytes(p)[ipOffset...])
        guard let ip = try? IPv4Header(parsing: bytes) else {
            drop(p, .malformed, ns: ns, device: inDevice)
            return
        }
        let resume: FragmentResume
        if bridgePort != .none, let b = devices[bridgePort.index].master {
            resume = FragmentResume(device: bridgePort, bridge: b.rawValue)
        } else {
            resume = FragmentResume(device: inDevice, bridge: -1)
        }
        guard let slot = reassemblyEnqueue(ns, p, ip, device: inDevice, user: 1, resume: resume) else { return }
        conntrackReassembled(ns, st, Int(slot))
    }

    private func conntrackReassembled(_ ns: NamespaceID, _ st: NetfilterState, _ slot: Int) {
        let n = namespaces[ns.index]
        let q = n.reassemblies[slot]!
        n.reassemblies[slot] = nil
        n.reassemblyIndex[q.key] = nil
        n.reassemblyMemory -= q.memory
        let order = q.fragments.indices.sorted { q.fragments[$0].offset < q.fragments[$1].offset }
        for k in order { pool.meta[Int(q.fragments[k].packet.rawValue)].defragmented = true }
        let firstIndex = order[0]
        let first = q.fragments[firstIndex].packet
        let resume = q.resume[firstIndex]
        let ipOffset = resume.bridge < 0 ? 0 : EthernetHeader.length
        let hookDevice = resume.bridge < 0 ? resume.device : bridges[Int(resume.bridge)].device
        let ip = pool.data(first) + ipOffset
        let length = pool.length(first) - ipOffset
        // The datagram the kernel's reassembly makes: the first fragment's header, then all the data.
        let whole = Int(ip.load(as: UInt8.self) & 0x0F) * 4 + (q.totalLength ?? 0)
        if let (tuple, quote) = conntrackTuple(ip, length: length, firstFragment: true), quote == 0 {
            st.datagrams &+= 1
            if st.datagrams == 0 { st.datagrams = 1 }
            pool.meta[Int(first.rawValue)].datagram = st.datagrams
            pool.meta[Int(first.rawValue)].datagramLength = UInt16(truncatingIfNeeded: whole)
            guard conntrackAttach(ns, st, first, ip: ip, length: whole, tuple: tuple, hook: .prerouting,
                                  inDevice: hookDevice, outDevice: .none) else {
                for k in order.dropFirst() { drop(q.fragments[k].packet, .conntrackTableFull, ns: ns, device: hookDevice) }
                return
            }
            let m = pool.meta[Int(first.rawValue)]
            let tag = st.conntrack.tag(ConntrackEntryID(rawValue: m.conntrack))
            for k in order.dropFirst() {
                let i = Int(q.fragments[k].packet.rawValue)
                pool.meta[i].conntrack = m.conntrack
                pool.meta[i].reply = m.reply
                pool.meta[i].mark = m.mark
                pool.meta[i].follower = true
                pool.meta[i].entryTag = tag
                pool.meta[i].datagram = m.datagram
            }
        }
        // While the first fragment goes on, the rest wait here in order (Ethernet frames, from
        // the bridge): cni0's capture shows the datagram it passes up whole (`bridgePassUp`).
        gatheredFollowers.removeAll(keepingCapacity: true)
        if resume.bridge >= 0 {
            for k in order.dropFirst() where q.resume[k].bridge >= 0 { gatheredFollowers.append(q.fragments[k].packet) }
        }
        defer { gatheredFollowers.removeAll(keepingCapacity: true) }
        for k in order {
            let r = q.resume[k], f = q.fragments[k].packet
            if r.bridge < 0 {
                ipReceive(r.device, f)
            } else {
                bridgeHandleFrame(BridgeID(r.bridge), ingress: r.device, f)
            }
        }
    }

    /// A follower whose first fragment was dropped between the hooks, or whose datagram's
    /// entry is gone (the first fragment was dropped and took its new entry with it), is
    /// dropped too. True for every other packet.
    @inline(__always)
    func followerIsLive(_ ns: NamespaceID, _ st: NetfilterState, _ p: PacketHandle, device: DeviceID) -> Bool {
        let m = pool.meta[Int(p.rawValue)]
        guard m.follower else { return true }
        if st.conntrack.isLive(ConntrackEntryID(rawValue: m.conntrack), tag: m.entryTag) && st.droppedDatagram != m.datagram {
            return true
        }
        pool.meta[Int(p.rawValue)] = .none
        drop(p, .netfilterDrop, ns: ns, device: device)
        return false
    }
}
