/// Node hardware profiles a topology defines itself: `spec.profiles` (named, reusable, each
/// optionally starting from a built-in board or an earlier profile of the file) and a node's
/// inline `profile: {base: …, cpuScale: …}`. Topology cannot import Kube, so a profile is a
/// `ProfileSpec` of optional fields here; PodwireKit's `ClusterBuilder` resolves it into
/// Kube's `NodeProfile` (the built-in board named by `base`, then every given field).

import Engine

/// A profile as written (`spec.profiles[]`), or a node's profile after resolution
/// (`NodeSpec.hardware`): every field is optional, nil keeps the base's value.
public struct ProfileSpec: Sendable, Equatable {
    /// The profile's name (a DNS-1123 label distinct from every built-in name). An inline
    /// profile is called `<base>@<node>` (or `custom@<node>` without a base).
    public var name: String
    /// In `TopologySpec.profiles`: a built-in name or an earlier profile of the file, as
    /// written. In `NodeSpec.hardware`: always a built-in name, or nil when every required
    /// field is given (`ProfileSpec.requiredWithoutBase`).
    public var base: String?
    /// A free-text description of the board.
    public var board: String?
    public var cores: Int?
    public var clockMHz: Int?
    /// Nominal memory in MB (1024 per GB, as the built-ins write it).
    public var memoryMB: Int?
    /// Memory the kernel manages, in MiB (at most `memoryMB`); sizes the kernel's conntrack table.
    public var totalRAMMiB: Int?
    /// Multiplier on the Pi 4 reference costs (Pi 4 at 1.5 GHz = 1.0).
    public var cpuScale: Double?
    /// NIC line rate, bits per second.
    public var lineRate: Int64?
    public var busCap: BusCap?
    /// The core that runs NET_RX softirq work (below `cores`).
    public var softirqCore: Int?
    /// `net.core.netdev_max_backlog`.
    public var netdevMaxBacklog: Int?
    /// eth0's `txqueuelen`.
    public var txqueuelen: Int?
    /// A 64-bit OS image (conntrack sizing).
    public var is64Bit: Bool?
    /// Per-stage costs of the Pi 4 reference board (before `cpuScale`), in file order; a
    /// stage written twice along a chain of bases keeps the last value.
    public var costs: [StageCostSetting]
    /// Where the profile is written (the `spec.profiles` entry, or the node's `profile` value).
    public var location: SourceLocation

    public init(name: String, base: String? = nil, board: String? = nil, cores: Int? = nil, clockMHz: Int? = nil,
                memoryMB: Int? = nil, totalRAMMiB: Int? = nil, cpuScale: Double? = nil, lineRate: Int64? = nil,
                busCap: BusCap? = nil, softirqCore: Int? = nil, netdevMaxBacklog: Int? = nil, txqueuelen: Int? = nil,
                is64Bit: Bool? = nil, costs: [StageCostSetting] = [], location: SourceLocation) {
        self.name = name
        self.base = base
        self.board = board
        self.cores = cores
        self.clockMHz = clockMHz
        self.memoryMB = memoryMB
        self.totalRAMMiB = totalRAMMiB
        self.cpuScale = cpuScale
        self.lineRate = lineRate
        self.busCap = busCap
        self.softirqCore = softirqCore
        self.netdevMaxBacklog = netdevMaxBacklog
        self.txqueuelen = txqueuelen
        self.is64Bit = is64Bit
        self.costs = costs
        self.location = location
    }

    /// `busCap`: a rate, or `none` to take away the base's cap.
    public enum BusCap: Sendable, Equatable {
        case none
        case bitsPerSecond(Int64)
    }

    /// Fields a profile without `base` must give (the others have Linux's or the Pi's
    /// defaults: no bus cap, softirq on core 0, backlog 1000, txqueuelen 1000, 64-bit, the Pi 4
    /// reference costs).
    public static let requiredWithoutBase = ["cores", "clockMHz", "memoryMB", "totalRAMMiB", "cpuScale", "lineRate"]

    /// `self` written over `base`: every field `self` gives replaces the base's; costs are
    /// merged stage by stage. The result keeps `self`'s name and location and `base`'s base.
    public func applied(over base: ProfileSpec) -> ProfileSpec {
        var r = base
        r.name = name
        r.location = location
        r.board = board ?? base.board
        r.cores = cores ?? base.cores
        r.clockMHz = clockMHz ?? base.clockMHz
        r.memoryMB = memoryMB ?? base.memoryMB
        r.totalRAMMiB = totalRAMMiB ?? base.totalRAMMiB
        r.cpuScale = cpuScale ?? base.cpuScale
        r.lineRate = lineRate ?? base.lineRate
        r.busCap = busCap ?? base.busCap
        r.softirqCore = softirqCore ?? base.softirqCore
        r.netdevMaxBacklog = netdevMaxBacklog ?? base.netdevMaxBacklog
        r.txqueuelen = txqueuelen ?? base.txqueuelen
        r.is64Bit = is64Bit ?? base.is64Bit
        for c in costs {
            if let i = r.costs.firstIndex(where: { $0.stage == c.stage }) { r.costs[i] = c } else { r.costs.append(c) }
        }
        return r
    }
}

/// One entry of a profile's `costs`.
public struct StageCostSetting: Sendable, Equatable {
    public var stage: StageCostName
    public var cost: SimDuration
    public init(stage: StageCostName, cost: SimDuration) {
        self.stage = stage
        self.cost = cost
    }
}

/// The fields of Datapath's `StageCosts`, by name (Topology does not import Datapath;
/// `ClusterBuilderTests` checks the two lists agree).
public enum StageCostName: String, Sendable, CaseIterable {
    case nicRx, nicTx, veth, bridge, bridgeFloodCopy, ipForward, localOutput, localDeliver
    case netfilterHook, iptablesRule, conntrackLookup, conntrackNew, vxlanEncap, vxlanDecap, loopback
}

/// What Topology knows of a built-in board without importing Kube: its name and the fields
/// that cross-field checks need (`softirqCore` below `cores`, `totalRAMMiB` within
/// `memoryMB`). `ClusterBuilderTests` checks them against Kube's `NodeProfile.builtins`.
public struct BuiltinProfileFacts: Sendable, Equatable {
    public var name: String
    public var cores: Int
    public var memoryMB: Int
    public var totalRAMMiB: Int
}

extension NodeSpec {
    /// The built-in boards, from the smallest to the largest, in Kube's `NodeProfile.builtins` order.
    public static let builtinProfiles: [BuiltinProfileFacts] = [
        BuiltinProfileFacts(name: "raspberry-pi-zero-2w", cores: 4, memoryMB: 512, totalRAMMiB: 430),
        BuiltinProfileFacts(name: "raspberry-pi-3b", cores: 4, memoryMB: 1024, totalRAMMiB: 920),
        BuiltinProfileFacts(name: "raspberry-pi-3b-plus", cores: 4, memoryMB: 1024, totalRAMMiB: 920),
        BuiltinProfileFacts(name: "raspberry-pi-4b", cores: 4, memoryMB: 4096, totalRAMMiB: 3790),
        BuiltinProfileFacts(name: "raspberry-pi-4b-1gb", cores: 4, memoryMB: 1024, totalRAMMiB: 920),
        BuiltinProfileFacts(name: "raspberry-pi-4b-2gb", cores: 4, memoryMB: 2048, totalRAMMiB: 1890),
        BuiltinProfileFacts(name: "raspberry-pi-4b-4gb", cores: 4, memoryMB: 4096, totalRAMMiB: 3790),
        BuiltinProfileFacts(name: "raspberry-pi-4b-8gb", cores: 4, memoryMB: 8192, totalRAMMiB: 7810),
        BuiltinProfileFacts(name: "raspberry-pi-5", cores: 4, memoryMB: 8192, totalRAMMiB: 7810),
        BuiltinProfileFacts(name: "raspberry-pi-5-4gb", cores: 4, memoryMB: 4096, totalRAMMiB: 4000),
        BuiltinProfileFacts(name: "raspberry-pi-5-8gb", cores: 4, memoryMB: 8192, totalRAMMiB: 7810),
    ]
}
