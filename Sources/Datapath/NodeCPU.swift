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
