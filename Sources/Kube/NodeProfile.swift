import Datapath

/// Raspberry Pi node profiles (shared/reference/pi-profiles.md §1, §7). This issue uses a
/// profile only to scale the datapath's stage latencies by the board's relative CPU speed;
/// NIC rates, CPU contention and conntrack sizing arrive with the profiles issue.
public struct NodeProfile: Sendable, Equatable {
    public var name: String
    public var board: String
    public var cores: Int
    public var clockMHz: Int
    public var memoryMB: Int
    /// Multiplier on the Pi 4 (1.5 GHz) per-stage costs: derived from the official relative
    /// speed statements (pi-profiles.md §4, §7.2) — an estimate, not a measurement.
    public var cpuScale: Double
    /// Wired NIC line rate in bits per second (pi-profiles.md §1). The Zero 2 W has no wired
    /// port; podwire gives it a 100 Mbit/s USB adapter, an assumption.
    public var lineRate: Int64

    public var stageDelays: StageDelays { StageDelays().scaled(by: cpuScale) }

    public static let builtins: [NodeProfile] = [
        NodeProfile(name: "raspberry-pi-3b", board: "Raspberry Pi 3 Model B (BCM2837, 4× Cortex-A53)",
                    cores: 4, clockMHz: 1200, memoryMB: 1024, cpuScale: 1.75, lineRate: 100000000),
        NodeProfile(name: "raspberry-pi-3b-plus", board: "Raspberry Pi 3 Model B+ (BCM2837B0, 4× Cortex-A53)",
                    cores: 4, clockMHz: 1400, memoryMB: 1024, cpuScale: 1.5, lineRate: 1000000000),
        NodeProfile(name: "raspberry-pi-4b", board: "Raspberry Pi 4 Model B (BCM2711, 4× Cortex-A72)",
                    cores: 4, clockMHz: 1500, memoryMB: 4096, cpuScale: 1.0, lineRate: 1000000000),
        NodeProfile(name: "raspberry-pi-5", board: "Raspberry Pi 5 (BCM2712, 4× Cortex-A76)",
                    cores: 4, clockMHz: 2400, memoryMB: 8192, cpuScale: 0.4, lineRate: 1000000000),
        NodeProfile(name: "raspberry-pi-zero-2w", board: "Raspberry Pi Zero 2 W (RP3A0, 4× Cortex-A53)",
                    cores: 4, clockMHz: 1000, memoryMB: 512, cpuScale: 2.1, lineRate: 100000000),
    ]

    public static func named(_ name: String) -> NodeProfile? {
        builtins.first { $0.name == name }
    }
}
