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

/// One piece of queued work: the event to run once `cost` of CPU time has been spent on it.
struct CPUWork {
    var event: WorldEvent
    var cost: SimDuration
    /// The packet's first work on this core (it counts against `netdev_max_backlog`).
    var entry: Bool
}

/// One core of a node: a single server. One item runs at a time; its event fires when its
/// cost has been spent, and the next item starts then — first the continuations of the
/// packet that just ran (run to completion, as a softirq does), then the queue.
struct CPUCore {
    var running = false
    var current: WorldEvent = .appTimer(AppID(rawValue: -1), 0)
    /// Queued work, oldest first from `head`.
    var queue: [CPUWork] = []
    var head = 0
    /// Work the running item's event submitted (its packet's next stages), run before `queue`.
    var continuations: [CPUWork] = []
    var continuationHead = 0
    /// Entries among the queued work: the backlog (`input_pkt_queue` length).
    var waitingEntries = 0
    /// CPU time charged while an item ran, without a stage of its own (netfilter, conntrack,
    /// delivery): the next item starts after it.
    var carry = SimDuration.zero
    /// Charged while the core was idle: it is busy until then.
    var freeAt = SimTime.zero
    /// When the running item is done. While `cpuDone` dispatches this core's previous item,
    /// an item started then has no `.cpu` event yet: `cpuDone` runs it directly or
    /// schedules one.
    var doneAt = SimTime.zero
    /// Simulated CPU time charged in all, and packets refused because the backlog was full.
    var busy = SimDuration.zero
    var backlogDrops: UInt64 = 0
    /// Applications blocked in `sendmsg` on this core (`World.waitForApplicationCore`), in
    /// turn order: each one's timer fires when the core next goes idle.
    var idleWaiters: [CoreWaiter] = []
    /// Waiters woken at the last idle that found the core taken again and kept their turn.
    var turnsKept = 0
}

/// An application waiting for its core: the timer (`tag`) to fire once the core is idle.
struct CoreWaiter {
    var app: AppID
    var tag: UInt64
}

/// A node's cores, `World.cores[first ..< first + count]`.
struct CPUBlock {
    let first: Int32
    let count: Int32
    /// Absolute index of the softirq core.
    let softirq: Int32
    let backlogLimit: Int
    /// Applications given a core so far (`World.applicationCore`): the next one gets the
    /// core after the previous one's, skipping the softirq core.
    var applicationsPlaced: Int32 = 0

    /// The core after the softirq core: where kernel-built packets that leave through a
    /// socket's path (a fragmented echo reply) are charged.
    var firstApplication: Int32 { first + (softirq - first + 1) % count }
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
/// application's core until it leaves the NIC or reaches a local socket. Each application
/// (an `iperf3` is one thread) gets a core of its own when it first sends: the cores after
/// the softirq core in turn, as Linux's scheduler spreads busy processes over idle cores. A
/// node with more applications than those cores gives the next ones the same cores again,
/// and applications on one core take turns on it.
///
/// Costs are charged in the order work happens; a stage's event fires when the core has
/// finished it, so under load packets queue behind one another. A packet joins a core's
/// queue where it first reaches it — a frame from the wire (the NIC's NAPI poll) or a socket
/// send — and is refused there when `netdev_max_backlog` packets already wait
/// (`SKB_DROP_REASON_CPU_BACKLOG`). Later stages on the same core never drop for CPU: Linux
/// runs a veth's `netif_rx` backlog in the same softirq round (or, for a sender, on
/// `local_bh_enable` before `sendmsg` returns), so the work a packet has had is not thrown
/// away half-way. A sender is held back the same way: `sendmsg` does its datagram's work on the
/// application's core and returns only when that is done (the veth's `netif_rx` backlog runs
/// on `local_bh_enable` before the call returns), so a paced sender asks
/// `applicationCoreIsBusy` before each send and waits (`waitForApplicationCore`) rather than
/// outrunning its core. One simplification: the NIC's RX ring is modelled as the backlog.
/// Where a namespace has no CPU (plain hosts, switches) a cost is a plain latency.
extension World {
    /// Gives namespaces `members` (a node's root namespace and its pods) one node's CPU.
    public func setCPU(_ configuration: NodeCPUConfiguration, for members: [NamespaceID]) {
        precondition(configuration.cores > 0 && (0..<configuration.cores).contains(configuration.softirqCore))
        let first = Int32(cores.count)
        let n = Int32(configuration.cores)
        let softirq = first + Int32(configuration.softirqCore)
        cores.append(repeating: CPUCore(), count: configuration.cores)
        cpuBlocks.append(CPUBlock(first: first, count: n, softirq: softirq,
                                  backlogLimit: configuration.netdevMaxBacklog))
        for m in members { namespaces[m.index].cpu = Int32(cpuBlocks.count - 1) }
    }

    /// Puts namespace `ns` (a pod made after `setCPU`) on the same CPU as `node`.
    public func shareCPU(of node: NamespaceID, with ns: NamespaceID) {
        namespaces[ns.index].cpu = namespaces[node.index].cpu
    }

    /// Whether `ns` runs on a node's CPU model (`setCPU`, `shareCPU`).
    public func hasCPU(_ ns: NamespaceID) -> Bool { namespaces[ns.index].cpu >= 0 }

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
        let c = pool.core[i]
        let block = cpuBlocks[Int(b)]
        if c >= block.first && c < block.first &+ block.count { return c }
        pool.core[i] = block.softirq
        return block.softirq
    }

    /// The node core `p`'s work in `ns` runs on, counted from the node's first core (what
    /// Linux calls the CPU number); 0 where `ns` has no CPU.
    @inline(__always) func nodeCore(_ ns: NamespaceID, _ p: PacketHandle) -> Int {
        let c = core(ns, p)
        if c < 0 { return 0 }
        return Int(c - cpuBlocks[Int(namespaces[ns.index].cpu)].first)
    }

    /// Marks `p` as sent by `app` in `ns` (process context on the application's core; nil:
    /// a packet the kernel built that leaves through a socket's path).
    @inline(__always) func setApplicationCore(_ ns: NamespaceID, _ app: AppID?, _ p: PacketHandle) {
        pool.core[Int(p.rawValue)] = applicationCore(ns, app)
    }

    /// The core `app` runs on in `ns`, -1 when `ns` has no CPU. An application gets one when it
    /// first needs it, and keeps it while it stays on that node.
    @inline(__always) func applicationCore(_ ns: NamespaceID, _ app: AppID?) -> Int32 {
        let b = namespaces[ns.index].cpu
        if b < 0 { return -1 }
        guard let app else { return cpuBlocks[Int(b)].firstApplication }
        let c = applicationCores[Int(app.rawValue)]
        let block = cpuBlocks[Int(b)]
        if c >= block.first && c < block.first &+ block.count { return c }
        return placeApplication(Int(app.rawValue), on: Int(b))
    }

    /// Gives application `i` the next core of block `b` after the softirq core, in turn (the
    /// softirq core itself only on a one-core node).
    @inline(never) private func placeApplication(_ i: Int, on b: Int) -> Int32 {
        let block = cpuBlocks[b]
        let others = max(block.count - 1, 1)
        let k = block.applicationsPlaced % others
        cpuBlocks[b].applicationsPlaced += 1
        let c = block.first + (block.softirq - block.first + 1 + k) % block.count
        applicationCores[i] = c
        return c
    }

    /// Moves `p`'s work in `ns` to core `c` when `c` is one of `ns`'s node's cores (work the
    /// kernel does for a packet in another packet's softirq, such as a neighbour queue sent
    /// when the ARP reply comes).
    @inline(__always) func onCore(_ c: Int32, _ ns: NamespaceID, _ p: PacketHandle) {
        let b = namespaces[ns.index].cpu
        if b < 0 { return }
        let block = cpuBlocks[Int(b)]
        if c >= block.first && c < block.first &+ block.count { pool.core[Int(p.rawValue)] = c }
    }

    @inline(__always) func copyCore(from p: PacketHandle, to c: PacketHandle) {
        let i = Int(p.rawValue), j = Int(c.rawValue)
        pool.core[j] = pool.core[i]
    }

    /// Forgets `p`'s core: it left this machine (its next node puts it on its softirq core).
    @inline(__always) func clearCore(_ p: PacketHandle) {
        let i = Int(p.rawValue)
        pool.core[i] = -1
    }

    /// Schedules `event` (which carries `p`) for when `ns`'s core has spent `cost` on `p`,
    /// after the work queued before it.
    @inline(__always) func stage(_ event: WorldEvent, _ p: PacketHandle, in ns: NamespaceID, cost: SimDuration) {
        let c = core(ns, p)
        if c < 0 {
            schedule(event, after: cost)
            return
        }
        submit(Int(c), CPUWork(event: event, cost: cost, entry: nextStageIsEntry))
        nextStageIsEntry = false
    }

    /// False (and `p` dropped as `.cpuBacklog`) when `p`'s core in `ns` already has
    /// `netdev_max_backlog` packets waiting.
    @inline(__always) func admitToBacklog(_ ns: NamespaceID, _ p: PacketHandle, device: DeviceID) -> Bool {
        let c = core(ns, p)
        if c < 0 { return true }
        let i = Int(c)
        if cores[i].running && cores[i].waitingEntries >= cpuBlocks[Int(namespaces[ns.index].cpu)].backlogLimit {
            cores[i].backlogDrops += 1
            drop(p, .cpuBacklog, ns: ns, device: device)
            return false
        }
        return true
    }

    /// `enqueue_to_backlog` then the stage: `p` reaches its core in `ns` for the first time (a
    /// frame from the wire, a socket send) and joins the queue, or is dropped (`.cpuBacklog`)
    /// when `netdev_max_backlog` packets already wait there.
    @inline(__always) func entryStage(_ event: WorldEvent, _ p: PacketHandle, in ns: NamespaceID, cost: SimDuration,
                                      device: DeviceID) {
        let c = core(ns, p)
        if c < 0 {
            schedule(event, after: cost)
            return
        }
        guard admitToBacklog(ns, p, device: device) else { return }
        submit(Int(c), CPUWork(event: event, cost: cost, entry: true))
    }

    @inline(__always) private func submit(_ c: Int, _ work: CPUWork) {
        packetEvents += 1
        if cores[c].running {
            if work.entry { cores[c].waitingEntries += 1 }
            if c == dispatchingCore && !work.entry {
                cores[c].continuations.append(work)
            } else {
                cores[c].queue.append(work)
            }
        } else {
            start(c, work)
        }
    }

    @inline(__always) private func start(_ c: Int, _ work: CPUWork) {
        let begin = max(now, cores[c].freeAt) + cores[c].carry
        cores[c].carry = .zero
        cores[c].running = true
        cores[c].current = work.event
        cores[c].busy += work.cost
        cores[c].doneAt = begin + work.cost
        // The core being dispatched decides in `cpuDone` once its item's event has run.
        if c != dispatchingCore {
            scheduler.schedule(.cpu(Int32(truncatingIfNeeded: c)), after: cores[c].doneAt - now)
        }
    }

    /// The running item of core `c` is done: run its event, then start the next item.
    ///
    /// The next item usually finishes before anything else pending (the packet's next stage,
    /// a few hundred nanoseconds on): then it runs here at once, with the clock moved to its
    /// end (`Scheduler.advance`), instead of as a queued `.cpu` event: the same times, without
    /// a schedule and a pop per stage. Otherwise its `.cpu` event is queued — now, after the
    /// dispatch, not when the item started. So if the dispatch also scheduled another event
    /// for exactly the item's end, that event runs first; the run is deterministic either way.
    func cpuDone(_ c: Int) {
        while true {
            let e = cores[c].current
            // The core is free while the event runs: the packet's next stage starts at once
            // (run to completion); any further ones it submits wait in `continuations`.
            cores[c].running = false
            dispatchingCore = c
            dispatch(e)
            if !cores[c].running && !startNext(c) {
                dispatchingCore = -1
                return
            }
            dispatchingCore = -1
            let done = cores[c].doneAt
            if !shortcuts.contains(.directContinuation) || !scheduler.advance(to: done, notAfter: runLimit) {
                scheduler.schedule(.cpu(Int32(truncatingIfNeeded: c)), after: done - now)
                return
            }
            directContinuations &+= 1
        }
    }

    /// Starts core `c`'s next item — the continuations of the packet that just ran, then the
    /// queue — or, with none, leaves the core idle (busy until its carried charges are spent)
    /// and returns false.
    @inline(__always) private func startNext(_ c: Int) -> Bool {
        if cores[c].continuationHead < cores[c].continuations.count {
            let next = cores[c].continuations[cores[c].continuationHead]
            cores[c].continuationHead += 1
            if cores[c].continuationHead == cores[c].continuations.count {
                cores[c].continuations.removeAll(keepingCapacity: true)
                cores[c].continuationHead = 0
            }
            start(c, next)
            return true
        }
        guard cores[c].head < cores[c].queue.count else {
            if cores[c].head > 0 {
                cores[c].queue.removeAll(keepingCapacity: true)
                cores[c].head = 0
            }
            if cores[c].carry > .zero {
                cores[c].freeAt = now + cores[c].carry
                cores[c].carry = .zero
            }
            if !cores[c].idleWaiters.isEmpty { wakeIdleWaiters(c) }
            return false
        }
        let next = cores[c].queue[cores[c].head]
        cores[c].head += 1
        if cores[c].head >= 4096 && cores[c].head * 2 >= cores[c].queue.count {
            // Under sustained load the queue never empties: shift out what has run.
            cores[c].queue.removeFirst(cores[c].head)
            cores[c].head = 0
        }
        if next.entry { cores[c].waitingEntries -= 1 }
        start(c, next)
        return true
    }

    /// True while the core `app` sends from in `ns` is still doing earlier work: an
    /// application that sent a datagram is still inside `sendmsg` until its core has run the
    /// datagram's process-context work (to the NIC's queue or a local socket). False without
    /// a CPU (sends cost no CPU time there).
    public func applicationCoreIsBusy(_ ns: NamespaceID, app: AppID) -> Bool {
        let c = Int(applicationCore(ns, app))
        if c < 0 { return false }
        return cores[c].running || c == dispatchingCore || cores[c].freeAt > now
    }

    /// Fires `app`'s timer `tag` once the core `app` sends from in `ns` is idle: at once when
    /// it is, else when its running work and everything queued behind it is done.
    ///
    /// Every waiter is woken when the core goes idle, in turn order; the first to send takes
    /// the core and goes to the back. `keepingTurn`: the caller was woken and found the core
    /// taken before it could send, so it goes back ahead of those that sent since — without
    /// it, the sender that just sent would always be first again and the others would starve.
    public func waitForApplicationCore(_ ns: NamespaceID, app: AppID, tag: UInt64, keepingTurn: Bool = false) {
        let c = Int(applicationCore(ns, app))
        if c >= 0 && (cores[c].running || c == dispatchingCore) {
            let w = CoreWaiter(app: app, tag: tag)
            if keepingTurn {
                cores[c].idleWaiters.insert(w, at: min(cores[c].turnsKept, cores[c].idleWaiters.count))
                cores[c].turnsKept += 1
            } else {
                cores[c].idleWaiters.append(w)
            }
            return
        }
        let free = c >= 0 ? cores[c].freeAt : now
        scheduleTimer(app, tag: tag, after: free > now ? free - now : .zero)
    }

    /// Core `c` went idle (busy until `freeAt` with its carried charges): wake the
    /// applications waiting for it, in the order they started waiting.
    @inline(never) private func wakeIdleWaiters(_ c: Int) {
        let delay = cores[c].freeAt > now ? cores[c].freeAt - now : .zero
        for w in cores[c].idleWaiters { scheduleTimer(w.app, tag: w.tag, after: delay) }
        cores[c].idleWaiters.removeAll(keepingCapacity: true)
        cores[c].turnsKept = 0
    }

    /// CPU time `p`'s core spends in `ns` without a stage of its own (netfilter rules,
    /// conntrack, VXLAN decapsulation, socket delivery): whatever runs next there waits for it.
    @inline(__always) func charge(_ ns: NamespaceID, _ p: PacketHandle, _ cost: SimDuration) {
        let c = core(ns, p)
        if c < 0 { return }
        let i = Int(c)
        cores[i].busy += cost
        if cores[i].running {
            cores[i].carry += cost
        } else {
            cores[i].freeAt = max(now, cores[i].freeAt) + cost
        }
    }
}
