import Engine
import Wire

/// The world: every namespace, device, bridge and socket of one simulation, the packet pool,
/// and the scheduler that drives them. Not a global: two worlds can run side by side.
///
/// The datapath is a set of `World` methods named after their Linux counterparts
/// (`netifReceive`, `bridgeHandleFrame`, `ipReceive`, `ipForward`, `neighbourOutput` …),
/// spread over `World+*.swift`. Work that takes simulated time is an event of `WorldEvent`
/// (a small enum, never a closure).

/// Everything that can happen later.
public enum WorldEvent: Sendable {
    /// A frame arrives at a device (from its veth peer, or looped back).
    case receive(DeviceID, PacketHandle)
    /// A device transmits a frame (after the stage that produced it took its time).
    case transmit(DeviceID, PacketHandle)
    /// A queued frame starts onto a shaped cable.
    case wireStart(DeviceID, PacketHandle)
    /// A frame's last bit reaches the device at the cable's far end.
    case wireArrival(DeviceID, PacketHandle)
    /// A received frame has crossed the bus behind the NIC (`ReceiveBus`).
    case busArrival(DeviceID, PacketHandle)
    /// A node core finished its running work item (NodeCPU.swift).
    case cpu(Int32)
    /// A neighbour entry's timer (retransmit, delay, probe).
    case neighbourTimer(NamespaceID, Int32, UInt32)
    /// An application's timer.
    case appTimer(AppID, UInt64)
    /// An IPv4 reassembly queue's `ipfrag_time` ran out.
    case reassemblyTimer(NamespaceID, Int32, UInt32)
}

/// Packet conservation: every packet created ends delivered, dropped with a reason, or is
/// still in flight when the run stops.
public struct PacketAccounting: Sendable, Equatable {
    /// Packets built by a sender: applications, ARP, ICMP.
    public var originated: UInt64 = 0
    /// Copies made by the bridge when flooding.
    public var cloned: UInt64 = 0
    /// Fragments a router cut from a forwarded datagram (`ip_fragment` on the forward path).
    public var fragmentsCreated: UInt64 = 0
    /// Forwarded datagrams that ended by being cut into `fragmentsCreated` pieces.
    public var fragmented: UInt64 = 0
    /// Packets consumed by a local receiver (socket, ICMP echo, ARP).
    public var delivered: UInt64 = 0
    /// Drops, indexed by `DropReason.rawValue`.
    public var droppedByReason = [UInt64](repeating: 0, count: DropReason.allCases.count)

    public init() {}

    public var dropped: UInt64 { droppedByReason.reduce(0, +) }
    public var created: UInt64 { originated + cloned + fragmentsCreated }
    /// Every way a packet's life can end (in flight aside).
    public var ended: UInt64 { delivered + dropped + fragmented }
    public func dropped(_ r: DropReason) -> UInt64 { droppedByReason[Int(r.rawValue)] }
}

/// Work the engine skips because it already knows the result. None may change any output:
/// `EquivalenceTests` replays every example topology and bench scenario with all of them on
/// and with all of them off, and compares every pcap byte for byte and every counter.
public struct EngineShortcuts: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A core's next work item runs at once, without a queued `.cpu` event, when it is due
    /// strictly before everything pending (`World.cpuDone`, `Scheduler.advance`).
    public static let directContinuation = EngineShortcuts(rawValue: 1)
    /// An iptables walk is answered from a remembered walk of the same packet view, its rule
    /// counters paid later (`Netfilter.evaluate`, `WalkMemo`).
    public static let rememberedWalks = EngineShortcuts(rawValue: 2)
    /// A checksum podwire computed and kept valid is not summed again: UDP receive trusts it
    /// (CHECKSUM_UNNECESSARY), and VXLAN's outer UDP checksum comes from the inner datagram's
    /// pseudo-header instead of its bytes.
    public static let knownChecksums = EngineShortcuts(rawValue: 4)

    public static let all: EngineShortcuts = [.directContinuation, .rememberedWalks, .knownChecksums]
}

public final class World {
    /// The shortcuts in use (all by default). Off, the engine does every step the long way:
    /// slower, and the output must be the same.
    public var shortcuts = EngineShortcuts.all {
        didSet {
            for n in namespaces { n.netfilter?.rules.memoizesWalks = shortcuts.contains(.rememberedWalks) }
        }
    }
    public var scheduler = Scheduler<WorldEvent>(minimumCapacity: 4096)
    public let pool: PacketPool
    public private(set) var namespaces: [Namespace] = []
    /// Every device, by `DeviceID` (read them with `device(_:)`).
    let devices = FlatTable<Device>()
    let bridges = FlatTable<Bridge>()
    public internal(set) var vxlans: [VXLANDevice] = []
    let sockets = FlatTable<Socket>()
    var applications: [any NetworkApplication] = []
    public internal(set) var accounting = PacketAccounting()
    /// The root of every random stream in this world.
    public let random: SeededGenerator
    /// Room for one whole IPv4 datagram (64 KiB), for building a datagram before it is
    /// fragmented and for reassembling one: allocated once.
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)

    /// The CPU model (NodeCPU.swift): every node's cores and each node's block of them (the
    /// core each packet's work runs on is `pool.core`).
    let cores = FlatTable<CPUCore>()
    var cpuBlocks: [CPUBlock] = []
    /// The core each application was given (`applicationCore`), by `AppID`; -1: none yet.
    var applicationCores: [Int32] = []
    /// Set while a socket send runs `ip_local_out`: its first stage is the packet's backlog entry.
    var nextStageIsEntry = false
    /// The core whose finished item is being dispatched (its packet's next stages run next), or -1.
    var dispatchingCore = -1
    /// The `limit` of the `run(until:)` in progress: a core may run its next item without
    /// queueing an event only up to it (NodeCPU.swift, `cpuDone`).
    var runLimit = SimTime.zero

    /// The fragments after the first of the datagram conntrack's defrag is handing on from a
    /// bridge's PREROUTING, in offset order, while its first fragment goes on
    /// (World+ConntrackDefrag.swift); empty otherwise.
    var gatheredFollowers: [PacketHandle] = []

    /// Work items a core ran at once instead of as a queued `.cpu` event (`.directContinuation`).
    var directContinuations: UInt64 = 0
    /// Pending `.receive`/`.transmit` events (each holds one packet), scheduled or queued on a core.
    var packetEvents: UInt64 = 0
    private var observers: [any HopObserver] = []
    /// The same observers, walked by every hop without reference counting (`observers`
    /// keeps them alive).
    private var hopObservers = UnsafeMutableBufferPointer<UnretainedHopObserver>(start: nil, count: 0)
    @usableFromInline var observed = false

    /// `maxFrame`: the largest frame (Ethernet header included) any device will carry.
    public init(seed: UInt64, maxFrame: Int = 1514) {
        random = SeededGenerator(seed: seed)
        pool = PacketPool(maxFrame: max(maxFrame, 1514))
    }

    deinit {
        scratch.deallocate()
        hopObservers.deallocate()
    }

    public var now: SimTime { scheduler.now }

    // MARK: - Observation

    public func addObserver(_ o: any HopObserver) {
        observers.append(o)
        let list = UnsafeMutableBufferPointer<UnretainedHopObserver>.allocate(capacity: observers.count)
        _ = list.initialize(from: observers.map(UnretainedHopObserver.init))
        hopObservers.deallocate()
        hopObservers = list
        observed = true
    }

    @inline(__always) func hop(_ stage: HopStage, _ ns: NamespaceID, _ dev: DeviceID, _ p: PacketHandle,
                               _ reason: DropReason? = nil) {
        if observed { emitHop(stage, ns, dev, p, reason) }
    }

    @inline(never) private func emitHop(_ stage: HopStage, _ ns: NamespaceID, _ dev: DeviceID, _ p: PacketHandle,
                                        _ reason: DropReason?) {
        emitHop(stage, ns, dev, frame: UnsafeRawBufferPointer(pool.bytes(p)))
    }

    /// A hop whose frame is not a pool packet's bytes (a reassembled datagram in `scratch`).
    func emitHop(_ stage: HopStage, _ ns: NamespaceID, _ dev: DeviceID, frame: UnsafeRawBufferPointer,
                 _ reason: DropReason? = nil) {
        let h = Hop(time: now, namespace: ns, device: dev, stage: stage, dropReason: reason)
        for o in hopObservers { o.observe(h, frame: frame) }
    }

    // MARK: - Ends of a packet's life

    /// A local receiver consumed the packet.
    @inline(__always) func deliver(_ p: PacketHandle, ns: NamespaceID, device: DeviceID) {
        charge(ns, p, namespaces[ns.index].costs.localDeliver)
        hop(.deliver, ns, device, p)
        accounting.delivered += 1
        orphan(p)
        pool.free(p)
    }

    /// The packet is dropped with `reason`.
    @inline(never) func drop(_ p: PacketHandle, _ reason: DropReason, ns: NamespaceID, device: DeviceID) {
        let i = Int(p.rawValue)
        if pool.meta[i].unconfirmed, pool.meta[i].conntrack >= 0, let st = namespaces[ns.index].netfilter {
            // The entry this packet created goes with it (the skb's reference was the only
            // one): a bridged DNAT packet lost in the ARP queue, say.
            st.conntrack.discard(ConntrackEntryID(rawValue: pool.meta[i].conntrack))
            pool.meta[i] = .none
        }
        hop(.drop, ns, device, p, reason)
        accounting.droppedByReason[Int(reason.rawValue)] += 1
        orphan(p)
        pool.free(p)
    }

    @inline(__always) func newPacket() -> PacketHandle {
        accounting.originated += 1
        return pool.allocate()
    }

    // MARK: - Running

    /// Runs every event due up to `limit` (inclusive); afterwards `now == limit`
    /// (unless `limit` is `.distantFuture`: then runs until idle).
    public func run(until limit: SimTime) {
        runLimit = limit
        while let e = scheduler.next(until: limit) {
            dispatch(e)
        }
    }

    /// Schedules a packet-carrying event; `packetEvents` counts them for conservation.
    @inline(__always) func schedule(_ e: WorldEvent, after d: SimDuration) {
        packetEvents += 1
        scheduler.schedule(e, after: d)
    }

    @inline(__always) func dispatch(_ e: WorldEvent) {
        switch e {
        case .receive(let d, let p):
            packetEvents -= 1
            deviceReceive(d, p)
        case .transmit(let d, let p):
            packetEvents -= 1
            deviceTransmit(d, p)
        case .wireStart(let d, let p):
            packetEvents -= 1
            wireStart(d, p)
        case .wireArrival(let d, let p):
            packetEvents -= 1
            wireArrival(d, p)
        case .busArrival(let d, let p):
            packetEvents -= 1
            nicReceive(d, p)
        case .cpu(let c): cpuDone(Int(c))
        case .neighbourTimer(let ns, let i, let g): neighbourTimer(ns, i, g)
        case .appTimer(let a, let tag): applications[Int(a.rawValue)].timerFired(self, tag: tag)
        case .reassemblyTimer(let ns, let slot, let g): reassemblyExpired(ns, slot, g)
        }
    }

    /// Packets still held somewhere (pending events and neighbour queues), counted by
    /// walking those places — independent of the counters, so conservation is a real check.
    public func packetsInFlight() -> UInt64 {
        var n: UInt64 = 0
        for ns in namespaces {
            for e in ns.neighbours.entries { n += UInt64(e.queue.count) }
            for r in ns.reassemblies { n += UInt64(r?.fragments.count ?? 0) }
        }
        return n + packetEvents
    }

    /// created == delivered + dropped + fragmented + in flight, and the pool agrees.
    public func conservationHolds() -> Bool {
        let inFlight = packetsInFlight()
        return accounting.created == accounting.ended + inFlight
            && UInt64(pool.live) == inFlight
    }

    // MARK: - Building

    @discardableResult
    public func addNamespace(name: String, kind: NamespaceKind, node: String) -> NamespaceID {
        let id = NamespaceID(Int32(namespaces.count))
        let ns = Namespace(id: id, name: name, kind: kind, node: node,
                           random: random.stream("netns/\(name)"))
        namespaces.append(ns)
        let lo = addDevice(ns: id, name: "lo", mac: .zero, mtu: 65536, kind: .loopback)
        ns.loopback = lo
        addAddress(IPv4Interface(address: .loopback, prefixLength: 8), to: lo)
        return id
    }

    public func namespace(_ id: NamespaceID) -> Namespace { namespaces[id.index] }

    public func device(_ id: DeviceID) -> Device { devices[id.index] }

    private func addDevice(ns: NamespaceID, name: String, mac: MACAddress, mtu: Int, kind: DeviceKind) -> DeviceID {
        precondition(!namespaces[ns.index].devices.contains { devices[$0.index].name == name },
                     "device \(name) already exists in \(namespaces[ns.index].name)")
        let id = DeviceID(Int32(devices.count))
        devices.append(Device(id: id, namespace: ns, name: name, mac: mac, mtu: mtu, kind: kind))
        namespaces[ns.index].devices.append(id)
        return id
    }

    /// `ip link add A type veth peer name B`, with A in `ns1` and B in `ns2`.
    @discardableResult
    public func addVethPair(_ ns1: NamespaceID, _ name1: String, mac1: MACAddress,
                            _ ns2: NamespaceID, _ name2: String, mac2: MACAddress, mtu: Int) -> (DeviceID, DeviceID) {
        let a = addDevice(ns: ns1, name: name1, mac: mac1, mtu: mtu, kind: .loopback)
        let b = addDevice(ns: ns2, name: name2, mac: mac2, mtu: mtu, kind: .veth(peer: a))
        devices[a.index].kind = .veth(peer: b)
        return (a, b)
    }

    /// An Ethernet NIC such as a node's eth0.
    @discardableResult
    public func addPhysical(_ ns: NamespaceID, name: String, mac: MACAddress, mtu: Int) -> DeviceID {
        addDevice(ns: ns, name: name, mac: mac, mtu: mtu, kind: .ethernet)
    }

    /// `ip link add NAME type vxlan id VNI local LOCAL dstport PORT nolearning`; it listens on
    /// UDP `port` in `ns` for decapsulation.
    @discardableResult
    public func addVXLAN(_ ns: NamespaceID, name: String, mac: MACAddress, mtu: Int, vni: UInt32, port: UInt16,
                         local: IPv4Address, udpChecksum: Bool = true) -> DeviceID {
        let index = Int32(vxlans.count)
        let dev = addDevice(ns: ns, name: name, mac: mac, mtu: mtu, kind: .vxlan(index))
        var key = namespaces[ns.index].random.stream("vxlan/\(name)/flow-hash")
        vxlans.append(VXLANDevice(device: dev, vni: vni, port: port, local: local, udpChecksum: udpChecksum,
                                  hashKey: key.next()))
        namespaces[ns.index].vxlanPorts[port] = index
        return dev
    }

    /// `bridge fdb append MAC dev VXLAN dst REMOTE` (permanent).
    public func addVXLANForwardingEntry(_ dev: DeviceID, mac: MACAddress, remote: IPv4Address) {
        guard case .vxlan(let i) = devices[dev.index].kind else { preconditionFailure("\(dev) is not a VXLAN device") }
        vxlans[Int(i)].fdb[mac.rawValue] = remote
    }

    /// `ip neigh add ADDRESS lladdr MAC dev DEV nud permanent`.
    public func addPermanentNeighbour(_ address: IPv4Address, mac: MACAddress, device dev: DeviceID) {
        let ns = namespaces[devices[dev.index].namespace.index]
        _ = ns.neighbours.insert(NeighbourEntry(address: address, device: dev, mac: mac, state: .permanent,
                                                confirmed: .zero, used: .zero, reachableTime: .seconds(30)))
    }

    /// `ip link add NAME type bridge`.
    @discardableResult
    public func addBridge(_ ns: NamespaceID, name: String, mac: MACAddress, mtu: Int) -> (BridgeID, DeviceID) {
        let bid = BridgeID(Int32(bridges.count))
        let dev = addDevice(ns: ns, name: name, mac: mac, mtu: mtu, kind: .bridge(bid))
        var b = Bridge(id: bid, device: dev)
        b.fdb.addLocal(mac, port: dev)
        bridges.append(b)
        return (bid, dev)
    }

    /// `ip link set PORT master BRIDGE` (+ `hairpin on`).
    public func attach(_ port: DeviceID, to bridge: BridgeID, hairpin: Bool) {
        precondition(devices[port.index].namespace == devices[bridges[Int(bridge.rawValue)].device.index].namespace,
                     "a bridge port must be in the bridge's namespace")
        devices[port.index].master = bridge
        devices[port.index].hairpin = hairpin
        bridges[Int(bridge.rawValue)].ports.insert(port, at: 0)
        bridges[Int(bridge.rawValue)].fdb.addLocal(devices[port.index].mac, port: port)
    }

    /// `ip addr add ADDR/LEN dev DEV`: also installs the connected route for the prefix
    /// (`proto kernel scope link src ADDR`), as the kernel does, unless it is a /32.
    public func addAddress(_ a: IPv4Interface, to dev: DeviceID) {
        let ns = namespaces[devices[dev.index].namespace.index]
        devices[dev.index].addresses.append(a)
        ns.localAddresses.append(a.address)
        if a.prefixLength < 32 && devices[dev.index].kind != .loopback {
            ns.routes.add(Route(destination: a.network, device: dev, source: a.address, isConnected: true))
        }
    }

    /// `ip route add …` in `ns`.
    public func addRoute(_ route: Route, in ns: NamespaceID) {
        namespaces[ns.index].routes.add(route)
    }

    /// Gives `dev` (a veth end standing for a NIC) a cable with a line rate, delay and queue.
    public func setLink(_ link: LinkShape?, of dev: DeviceID) {
        devices[dev.index].link = link
    }

    /// Puts a capped bus between `dev` (a NIC) and its host for what it receives.
    public func setReceiveBus(_ bus: ReceiveBus?, of dev: DeviceID) {
        devices[dev.index].receiveBus = bus
    }

    public func setMTU(_ mtu: Int, of dev: DeviceID) {
        devices[dev.index].mtu = mtu
    }

    /// The device named `name` in `ns`.
    public func device(named name: String, in ns: NamespaceID) -> DeviceID? {
        namespaces[ns.index].devices.first { devices[$0.index].name == name }
    }
}
