/// ClusterIPs and node ports for Services that do not write them, allocated the way
/// kube-apiserver (≥ 1.27) allocates them, with podwire's seeded streams in place of Go's
/// `math/rand`, so a seed always gives the same addresses.
///
/// Both allocators are kube-apiserver's bitmap allocator with `randomScanStrategyWithOffset`
/// (pkg/registry/core/service/allocator/bitmap.go): the range is split into a lower *static*
/// band, left for values users write, and an upper *dynamic* band. A dynamic allocation picks
/// a random start in the upper band and scans forward (wrapping inside the band) to the first
/// free value; only when the upper band is full does it do the same in the lower band.
/// - ClusterIPs (KEP-3070, "Reserve Service IP Ranges For Dynamic and Static IP Allocation",
///   GA in 1.26; pkg/registry/core/service/ipallocator/bitmap.go): offset 0 is the subnet's
///   first host address (network + 1) and the range ends before the broadcast address; the
///   static band is the first `min(max(16, cidrSize / 16), 256)` offsets (none when the subnet
///   has 16 addresses or fewer). For the default 10.96.0.0/12 that is 10.96.0.1–10.96.1.0.
/// - Node ports (KEP-3668, "Reserve Nodeport Ranges For Dynamic And Static Port Allocation",
///   GA in 1.29; pkg/registry/core/service/portallocator/allocator.go): the static band is the
///   first `min(max(16, rangeSize / 32), 128)` ports (none when the range has 16 ports or
///   fewer). For the default 30000-32767 (2768 ports) that is 86 ports, 30000–30085.
///
/// podwire never hands out the subnet's first address (what a real cluster gives the
/// `default/kubernetes` Service) nor its tenth (kubeadm's kube-dns address) dynamically, so a
/// file may write them; it does not create either Service. All written values are taken
/// first, then the missing ones are allocated in file order (port order within a Service),
/// from the streams `stream("clusterip")` and `stream("nodeport")` of `spec.seed`.

import Engine
import Wire

/// A bitmap allocator over offsets 0..<size, lower `staticBand` offsets kept for written values.
struct RangeAllocator {
    let size: Int
    let staticBand: Int
    /// Offsets never allocated dynamically (they may still be taken by a written value).
    let reserved: Set<Int>
    private(set) var taken: Set<Int> = []

    init(size: Int, staticBand: Int, reserved: Set<Int> = []) {
        self.size = max(0, size)
        self.staticBand = min(staticBand, max(0, size))
        self.reserved = reserved
    }

    /// `min(max(minimum, size / step), maximum)`, or 0 when `size <= minimum`
    /// (`calculateRangeOffset` in both allocators).
    static func staticBand(size: Int, minimum: Int, step: Int, maximum: Int) -> Int {
        if size <= minimum { return 0 }
        return min(max(minimum, size / step), maximum)
    }

    func isTaken(_ offset: Int) -> Bool { taken.contains(offset) }

    /// Takes a written value; false when it is outside the range or already taken.
    mutating func allocate(_ offset: Int) -> Bool {
        guard (0..<size).contains(offset), !taken.contains(offset) else { return false }
        taken.insert(offset)
        return true
    }

    /// A random free offset, upper band first; nil when nothing is free.
    mutating func allocateNext(using generator: inout SeededGenerator) -> Int? {
        let upper = size - staticBand
        if upper > 0 {
            let start = Self.uniform(upper, &generator)
            for i in 0..<upper {
                let at = staticBand + (start + i) % upper
                if !taken.contains(at) && !reserved.contains(at) {
                    taken.insert(at)
                    return at
                }
            }
        }
        if staticBand > 0 {
            let start = Self.uniform(staticBand, &generator)
            for i in 0..<staticBand {
                let at = (start + i) % staticBand
                if !taken.contains(at) && !reserved.contains(at) {
                    taken.insert(at)
                    return at
                }
            }
        }
        return nil
    }

    /// Uniform in 0..<bound by rejection, so that the numbers never depend on the standard
    /// library's `random(in:)` algorithm.
    static func uniform(_ bound: Int, _ generator: inout SeededGenerator) -> Int {
        let b = UInt64(bound)
        let threshold = (0 &- b) % b
        while true {
            let x = generator.next()
            if x >= threshold { return Int(x % b) }
        }
    }
}

enum ServiceAllocation {
    /// The ClusterIP allocator of `subnet`: offset 0 is network + 1; .1 and .10 are reserved.
    static func clusterIPs(_ subnet: IPv4Network) -> RangeAllocator {
        let cidrSize = subnet.size
        let size = cidrSize > 2 ? Int(cidrSize - 2) : 0
        let band = RangeAllocator.staticBand(size: Int(min(cidrSize, UInt64(Int.max))), minimum: 16, step: 16, maximum: 256)
        return RangeAllocator(size: size, staticBand: band, reserved: [0, 9])
    }

    /// The offset of `address` in `clusterIPs(subnet)`, or nil outside its range (including
    /// the network and broadcast addresses).
    static func offset(of address: IPv4Address, in subnet: IPv4Network) -> Int? {
        guard subnet.contains(address) else { return nil }
        let offset = Int(address.rawValue &- subnet.network.rawValue) - 1
        return (0..<clusterIPs(subnet).size).contains(offset) ? offset : nil
    }

    static func address(at offset: Int, in subnet: IPv4Network) -> IPv4Address {
        subnet.address(at: UInt32(offset + 1))
    }

    /// The node-port allocator of `range`: offset 0 is its first port.
    static func nodePorts(_ range: ClosedRange<Int>) -> RangeAllocator {
        RangeAllocator(size: range.count, staticBand: RangeAllocator.staticBand(size: range.count, minimum: 16, step: 32, maximum: 128))
    }
}
