import Wire

/// The CNI `host-local` IPAM plugin for one node's range
/// (containernetworking/plugins: plugins/ipam/host-local/backend/allocator; k8s-datapath.md
/// §2.2): gateway = network + 1; range start = network + 1 and the gateway is skipped, so the
/// first pod gets .2; range end = broadcast − 1; allocation is round-robin from the last
/// reserved address, wrapping to the start, so a freed address is not reused at once.
public struct HostLocalIPAM: Sendable {
    public let subnet: IPv4Network
    public let gateway: IPv4Address
    public let rangeStart: IPv4Address
    public let rangeEnd: IPv4Address
    private var lastReserved: IPv4Address?
    private var allocated: Set<IPv4Address> = []

    /// nil for a /31 or /32 ("too small to allocate from").
    public init?(subnet: IPv4Network) {
        guard subnet.prefixLength <= 30 else { return nil }
        self.subnet = subnet
        gateway = subnet.address(at: 1)
        rangeStart = subnet.address(at: 1)
        rangeEnd = IPv4Address(rawValue: subnet.broadcast.rawValue - 1)
    }

    /// "10.244.0.1-10.244.0.254", as host-local names a range set in its errors.
    public var rangeSetDescription: String { "\(rangeStart)-\(rangeEnd)" }

    /// The next free address after the last reserved one, or nil when the range is full.
    public mutating func allocate() -> IPv4Address? {
        let count = rangeEnd.rawValue - rangeStart.rawValue + 1
        var candidate = lastReserved.map { next($0) } ?? rangeStart
        for _ in 0..<count {
            if candidate != gateway && !allocated.contains(candidate) {
                allocated.insert(candidate)
                lastReserved = candidate
                return candidate
            }
            candidate = next(candidate)
        }
        return nil
    }

    public mutating func release(_ a: IPv4Address) {
        allocated.remove(a)
    }

    private func next(_ a: IPv4Address) -> IPv4Address {
        a == rangeEnd ? rangeStart : IPv4Address(rawValue: a.rawValue + 1)
    }
}
