import Engine

/// The CPU of a node, as the datapath's cost model sees it (`StageCosts`).
public struct NodeCPUConfiguration: Sendable, Equatable {
    /// Cores on the board.
    public var cores: Int
    /// The core that runs NET_RX softirq work for frames from the NIC.
    public var softirqCore: Int
    /// `net.core.netdev_max_backlog`: packets one core's input queue holds before
    /// `enqueue_to_backlog` drops.
    public var netdevMaxBacklog: Int

    public init(cores: Int, softirqCore: Int = 0, netdevMaxBacklog: Int = 1000) {
        self.cores = cores
        self.softirqCore = softirqCore
        self.netdevMaxBacklog = netdevMaxBacklog
    }
}

/// One core of a node: a FIFO server. Work charged to it starts when the core is free and
/// keeps it busy for the stage's cost; an event that needs that work done fires when it ends.
struct CPUCore {
    /// When the work charged so far ends.
    var busyUntil = SimTime.zero
    /// Start times of input-queue packets that have not started yet (`input_pkt_queue`),
    /// oldest first from `head`: their count is the backlog.
    var backlogStarts: [SimTime] = []
    var head = 0
    /// Simulated CPU time charged in all, and packets refused because the backlog was full.
    var busy = SimDuration.zero
    var backlogDrops: UInt64 = 0
}

/// A node's cores, `World.cores[first ..< first + count]`.
struct CPUBlock {
    let first: Int32
    let count: Int32
    /// Absolute index of the softirq core, and of the core applications send from.
    let softirq: Int32
    let application: Int32
    let backlogLimit: Int
}

/// Per-core figures for reports.
public struct CoreStatistics: Sendable, Equatable {
    /// Simulated CPU time charged to the core.
    public var busy: SimDuration
    /// Packets `enqueue_to_backlog` refused (`softnet_stat`'s dropped column).
    public var backlogDrops: UInt64
}

/// The CPU model (`StageCosts`): each node namespace and its pods share the node's cores.
/// A packet's work runs on one core, as in Linux: a frame from the NIC on the softirq core
/// from the driver up to the socket (NET_RX, through VXLAN, routing, cni0 and the pod's veth,
/// which `netif_rx`s onto the same core's backlog); a datagram an application sends on the
/// application's core until it leaves the NIC or reaches a local socket. Applications on a
/// node share one core, the one after the softirq core (`iperf3` is one thread).
///
/// Costs are charged in the order work happens; a stage's event fires when the core has
/// finished it, so under load packets queue behind one another. Packets enter a core's
/// input queue at three points — a frame from the wire (NAPI poll), a veth transmit
/// (`netif_rx`) and a socket send — and are refused there when `netdev_max_backlog` packets
/// already wait (`SKB_DROP_REASON_CPU_BACKLOG`). Stages after the entry never drop for CPU.
/// Where a namespace has no CPU (plain hosts, switches) a cost is a plain latency.
extension World {
    /// Gives namespaces `members` (a node's root namespace and its pods) one node's CPU.
    public func setCPU(_ configuration: NodeCPUConfiguration, for members: [NamespaceID]) {
        precondition(configuration.cores > 0 && (0..<configuration.cores).contains(configuration.softirqCore))
        let first = Int32(cores.count)
        let n = Int32(configuration.cores)
        let softirq = first + Int32(configuration.softirqCore)
        let application = first + (Int32(configuration.softirqCore) + 1) % n
        cores.append(contentsOf: repeatElement(CPUCore(), count: configuration.cores))
        cpuBlocks.append(CPUBlock(first: first, count: n, softirq: softirq, application: application,
                                  backlogLimit: configuration.netdevMaxBacklog))
        for m in members { namespaces[m.index].cpu = Int32(cpuBlocks.count - 1) }
    }

    /// Puts namespace `ns` (a pod made after `setCPU`) on the same CPU as `node`.
    public func shareCPU(of node: NamespaceID, with ns: NamespaceID) {
        namespaces[ns.index].cpu = namespaces[node.index].cpu
    }

    /// Per-core figures of `ns`'s CPU, core 0 first; empty when it has none.
    public func coreStatistics(_ ns: NamespaceID) -> [CoreStatistics] {
        let b = namespaces[ns.index].cpu
        guard b >= 0 else { return [] }
        let block = cpuBlocks[Int(b)]
        return (block.first..<block.first + block.count).map {
            CoreStatistics(busy: cores[Int($0)].busy, backlogDrops: cores[Int($0)].backlogDrops)
        }
    }

    /// The core `p`'s work in `ns` runs on, or -1 when `ns` has no CPU. A packet keeps its
    /// core while it stays on one node; anything else (new from the kernel, or arrived from
    /// another machine) runs on the node's softirq core.
    @inline(__always) func core(_ ns: NamespaceID, _ p: PacketHandle) -> Int32 {
        let b = namespaces[ns.index].cpu
        if b < 0 { return -1 }
        let i = Int(p.rawValue)
        if i >= packetCore.count { growPacketCores(i) }
        let c = packetCore[i]
        let block = cpuBlocks[Int(b)]
        if c >= block.first && c < block.first &+ block.count { return c }
        packetCore[i] = block.softirq
        return block.softirq
    }

    @inline(never) func growPacketCores(_ i: Int) {
        packetCore.append(contentsOf: repeatElement(-1, count: max(i + 1 - packetCore.count, pool.capacity - packetCore.count)))
    }

    /// Marks `p` as sent by an application of `ns` (process context on the application core).
    @inline(__always) func setApplicationCore(_ ns: NamespaceID, _ p: PacketHandle) {
        let b = namespaces[ns.index].cpu
        let i = Int(p.rawValue)
        if i >= packetCore.count { growPacketCores(i) }
        packetCore[i] = b < 0 ? -1 : cpuBlocks[Int(b)].application
    }

    @inline(__always) func copyCore(from p: PacketHandle, to c: PacketHandle) {
        let i = Int(p.rawValue), j = Int(c.rawValue)
        if j >= packetCore.count { growPacketCores(j) }
        packetCore[j] = i < packetCore.count ? packetCore[i] : -1
    }

    /// Forgets `p`'s core: it left this machine (its next node puts it on its softirq core).
    @inline(__always) func clearCore(_ p: PacketHandle) {
        let i = Int(p.rawValue)
        if i < packetCore.count { packetCore[i] = -1 }
    }

    /// Schedules `event` (which carries `p`) for when `ns`'s core has spent `cost` on `p`.
    @inline(__always) func stage(_ event: WorldEvent, _ p: PacketHandle, in ns: NamespaceID, cost: SimDuration) {
        let c = core(ns, p)
        if c < 0 {
            schedule(event, after: cost)
            return
        }
        let start = max(now, cores[Int(c)].busyUntil)
        let end = start + cost
        cores[Int(c)].busyUntil = end
        cores[Int(c)].busy += cost
        schedule(event, after: end - now)
    }

    /// CPU time `p`'s core spends in `ns` without a stage of its own (netfilter rules,
    /// conntrack, VXLAN decapsulation, socket delivery): it delays whatever runs next there.
    @inline(__always) func charge(_ ns: NamespaceID, _ p: PacketHandle, _ cost: SimDuration) {
        let c = core(ns, p)
        if c < 0 { return }
        cores[Int(c)].busyUntil = max(now, cores[Int(c)].busyUntil) + cost
        cores[Int(c)].busy += cost
    }

    /// `enqueue_to_backlog`: `p` joins its core's input queue in `ns`, or is dropped
    /// (`.cpuBacklog`) when `netdev_max_backlog` packets already wait there. Returns false
    /// when dropped.
    @inline(__always) func enterBacklog(_ ns: NamespaceID, _ p: PacketHandle, device: DeviceID) -> Bool {
        let c = core(ns, p)
        if c < 0 { return true }
        return enterBacklog(core: Int(c), ns, p, device: device)
    }

    private func enterBacklog(core c: Int, _ ns: NamespaceID, _ p: PacketHandle, device: DeviceID) -> Bool {
        let start = max(now, cores[c].busyUntil)
        if start == now { return true }
        // Packets whose processing has started have left the queue.
        while cores[c].head < cores[c].backlogStarts.count, cores[c].backlogStarts[cores[c].head] <= now {
            cores[c].head += 1
        }
        if cores[c].head == cores[c].backlogStarts.count {
            cores[c].backlogStarts.removeAll(keepingCapacity: true)
            cores[c].head = 0
        } else if cores[c].head >= 4096 {
            // Under sustained load the queue never empties: shift out what has started.
            cores[c].backlogStarts.removeFirst(cores[c].head)
            cores[c].head = 0
        }
        let limit = cpuBlocks[Int(namespaces[ns.index].cpu)].backlogLimit
        if cores[c].backlogStarts.count - cores[c].head >= limit {
            cores[c].backlogDrops += 1
            drop(p, .cpuBacklog, ns: ns, device: device)
            return false
        }
        cores[c].backlogStarts.append(start)
        return true
    }
}
