import Datapath
import Engine

/// A node's hardware, as podwire models it: the Raspberry Pi boards of
/// shared/reference/pi-profiles.md §1 and §7, or a board a topology defines itself.
///
/// What is published and what is estimated:
/// * **Published:** cores, clock, memory, NIC line rates (the boards' official specs, §1), the
///   Pi 3B+'s USB 2.0 bottleneck (300 Mbit/s official, 224 measured, §2) and the relative CPU
///   speeds between models (§4: 3B+ ≈ 1.17 × 3B, Pi 4 ≈ 1.5 × 3B+, Pi 5 ≈ 2–3 × Pi 4).
/// * **Estimated:** every per-stage CPU cost (`StageCosts`, anchored on a Pi 4 as §7.1
///   explains) and therefore every CPU-bound figure (small-datagram floods). `cpuScale`
///   carries the Pi 4 costs to other boards from the relative-speed statements, not from a
///   per-stage measurement on that board. **Calibrate before trusting small-packet results**
///   (§7.3 lists the measurements that would).
/// * **Assumed:** `totalRAMMiB` (what the kernel manages after the firmware's reservation:
///   the §6 figures, to be replaced by `MemTotal` from real boards), softirq on core 0 (one
///   RX interrupt line, no RPS: §7.1), and the Zero 2 W's 100 Mbit/s USB adapter (it has no
///   wired port).
public struct NodeProfile: Sendable, Equatable {
    public var name: String
    public var board: String
    public var cores: Int
    public var clockMHz: Int
    /// Nominal memory (the board's name: 1, 2, 4, 8 GB).
    public var memoryMB: Int
    /// Memory the kernel manages (`totalram_pages`, after firmware/GPU reservations); sizes
    /// the kernel's default conntrack table. pi-profiles.md §6 — an assumption until read
    /// from real boards' `MemTotal`.
    public var totalRAMMiB: Int
    /// Multiplier on the Pi 4 (1.5 GHz) per-stage costs: derived from the official relative
    /// speed statements (pi-profiles.md §4, §7.2) — an estimate, not a measurement.
    public var cpuScale: Double
    /// Wired NIC line rate in bits per second (pi-profiles.md §1). The Zero 2 W has no wired
    /// port; podwire gives it a 100 Mbit/s USB adapter, an assumption.
    public var lineRate: Int64
    /// The attachment bus's ceiling on frames through the NIC, bits per second (the 3B+'s
    /// LAN7515 behind USB 2.0: 300 Mbit/s official rating), or nil when the NIC is native.
    /// Applied to both directions (pi-profiles.md §7.1, "per direction"): transmit as the
    /// rate frames leave at, receive as a `ReceiveBus` behind a 12 KiB RX FIFO.
    public var busCap: Int64?
    /// Costs of the Pi 4 reference board, before `cpuScale` (`StageCosts` documents each).
    public var referenceCosts: StageCosts
    /// The core that takes NET_RX softirq work for the NIC (0: one interrupt line, no RPS).
    public var softirqCore: Int
    /// `net.core.netdev_max_backlog`: packets a core's input queue holds (default 1000).
    public var netdevMaxBacklog: Int
    /// eth0's `txqueuelen` (default 1000).
    public var txqueuelen: Int
    /// True when the OS image is 64-bit (Raspberry Pi OS 64-bit, Ubuntu): pointer size in the
    /// kernel's conntrack sizing.
    public var is64Bit: Bool

    public init(name: String, board: String, cores: Int, clockMHz: Int, memoryMB: Int, totalRAMMiB: Int,
                cpuScale: Double, lineRate: Int64, busCap: Int64? = nil, referenceCosts: StageCosts = StageCosts(),
                softirqCore: Int = 0, netdevMaxBacklog: Int = 1000, txqueuelen: Int = 1000, is64Bit: Bool = true) {
        self.name = name
        self.board = board
        self.cores = cores
        self.clockMHz = clockMHz
        self.memoryMB = memoryMB
        self.totalRAMMiB = totalRAMMiB
        self.cpuScale = cpuScale
        self.lineRate = lineRate
        self.busCap = busCap
        self.referenceCosts = referenceCosts
        self.softirqCore = softirqCore
        self.netdevMaxBacklog = netdevMaxBacklog
        self.txqueuelen = txqueuelen
        self.is64Bit = is64Bit
    }

    /// The per-stage costs on this board.
    public var stageCosts: StageCosts { referenceCosts.scaled(by: cpuScale) }

    /// What leaves the NIC per second at most: the line rate, or the bus cap when lower.
    public var transmitRate: Int64 { min(lineRate, busCap ?? lineRate) }

    /// `nf_conntrack_max` as the kernel sets it at boot when nothing (kube-proxy, k3s) changes
    /// it: `nf_conntrack_htable_autosize` (Linux ≥ 5.15, net/netfilter/nf_conntrack_core.c):
    /// buckets = totalram / 16384 / sizeof(pointer), 262144 if 64-bit with more than 4 GiB,
    /// 65536 if more than 1 GiB, at least 1024; max = buckets (pi-profiles.md §6).
    public var kernelConntrackMax: Int {
        let bytes = totalRAMMiB * 1024 * 1024
        let gib = 1024 * 1024 * 1024
        let buckets: Int
        if is64Bit && bytes > 4 * gib {
            buckets = 262_144
        } else if bytes > gib {
            buckets = 65_536
        } else {
            buckets = max(bytes / 16_384 / (is64Bit ? 8 : 4), 1024)
        }
        return buckets
    }

    /// `nf_conntrack_max` once kube-proxy has started: max(32768 × cores, 131072), at most
    /// 1048576 (pi-profiles.md §6).
    public var kubeProxyConntrackMax: Int { Cluster.kubeProxyConntrackMax(cores: cores) }

    /// The CPU a node of this profile gets in the world.
    public var cpuConfiguration: NodeCPUConfiguration {
        NodeCPUConfiguration(cores: cores, softirqCore: softirqCore, netdevMaxBacklog: netdevMaxBacklog)
    }

    static func pi3b() -> NodeProfile {
        NodeProfile(name: "raspberry-pi-3b", board: "Raspberry Pi 3 Model B (BCM2837, 4× Cortex-A53 @ 1.2 GHz, LAN9514 10/100 over USB 2.0)",
                    cores: 4, clockMHz: 1200, memoryMB: 1024, totalRAMMiB: 920, cpuScale: 1.75, lineRate: 100_000_000)
    }
    static func pi3bPlus() -> NodeProfile {
        NodeProfile(name: "raspberry-pi-3b-plus", board: "Raspberry Pi 3 Model B+ (BCM2837B0, 4× Cortex-A53 @ 1.4 GHz, LAN7515 GbE over USB 2.0)",
                    cores: 4, clockMHz: 1400, memoryMB: 1024, totalRAMMiB: 920, cpuScale: 1.5, lineRate: 1_000_000_000,
                    busCap: 300_000_000)
    }
    static func pi4b(gb: Int) -> NodeProfile {
        let total = [1: 920, 2: 1890, 4: 3790, 8: 7810][gb]!
        return NodeProfile(name: "raspberry-pi-4b-\(gb)gb", board: "Raspberry Pi 4 Model B \(gb) GB (BCM2711, 4× Cortex-A72 @ 1.5 GHz, GENET GbE)",
                           cores: 4, clockMHz: 1500, memoryMB: gb * 1024, totalRAMMiB: total, cpuScale: 1.0,
                           lineRate: 1_000_000_000)
    }
    static func pi5(gb: Int) -> NodeProfile {
        let total = [4: 4000, 8: 7810][gb]!
        return NodeProfile(name: "raspberry-pi-5-\(gb)gb", board: "Raspberry Pi 5 \(gb) GB (BCM2712, 4× Cortex-A76 @ 2.4 GHz, RP1 GbE)",
                           cores: 4, clockMHz: 2400, memoryMB: gb * 1024, totalRAMMiB: total, cpuScale: 0.4,
                           lineRate: 1_000_000_000)
    }
    static func zero2w() -> NodeProfile {
        NodeProfile(name: "raspberry-pi-zero-2w", board: "Raspberry Pi Zero 2 W (RP3A0, 4× Cortex-A53 @ 1.0 GHz; assumed 100 Mbit/s USB Ethernet adapter)",
                    cores: 4, clockMHz: 1000, memoryMB: 512, totalRAMMiB: 430, cpuScale: 2.1, lineRate: 100_000_000)
    }

    /// Every built-in profile. `raspberry-pi-4b` is the 4 GB board and `raspberry-pi-5` the
    /// 8 GB one (the commonest), each also under its memory-qualified name.
    public static let builtins: [NodeProfile] = {
        var pi4Default = pi4b(gb: 4)
        pi4Default.name = "raspberry-pi-4b"
        var pi5Default = pi5(gb: 8)
        pi5Default.name = "raspberry-pi-5"
        return [zero2w(), pi3b(), pi3bPlus(), pi4Default, pi4b(gb: 1), pi4b(gb: 2), pi4b(gb: 4), pi4b(gb: 8),
                pi5Default, pi5(gb: 4), pi5(gb: 8)]
    }()

    public static var names: [String] { builtins.map(\.name) }

    public static func named(_ name: String) -> NodeProfile? {
        builtins.first { $0.name == name }
    }
}
