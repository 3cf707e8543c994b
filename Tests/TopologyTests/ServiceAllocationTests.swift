/// ClusterIP and node-port allocation: kube-apiserver's band sizes (KEP-3070, KEP-3668), the
/// upper band first, .1 and .10 never handed out, written values taken first, the same seed
/// giving the same values.

import Engine
import Testing
import Wire
@testable import Topology

@Suite struct ServiceAllocationTests {
    @Test func staticBandSizesAreKubeAPIServers() {
        // ClusterIPs: min(max(16, cidrSize / 16), 256), none for 16 addresses or fewer.
        #expect(RangeAllocator.staticBand(size: 1 << 20, minimum: 16, step: 16, maximum: 256) == 256)   // /12
        #expect(RangeAllocator.staticBand(size: 256, minimum: 16, step: 16, maximum: 256) == 16)        // /24
        #expect(RangeAllocator.staticBand(size: 1024, minimum: 16, step: 16, maximum: 256) == 64)       // /22
        #expect(RangeAllocator.staticBand(size: 32, minimum: 16, step: 16, maximum: 256) == 16)         // /27
        #expect(RangeAllocator.staticBand(size: 16, minimum: 16, step: 16, maximum: 256) == 0)          // /28
        // Node ports: min(max(16, rangeSize / 32), 128); the default 2768 ports give 86.
        #expect(ServiceAllocation.nodePorts(30000...32767).staticBand == 86)
        #expect(ServiceAllocation.nodePorts(30000...30015).staticBand == 0)
        #expect(ServiceAllocation.nodePorts(30000...30099).staticBand == 16)
        #expect(ServiceAllocation.nodePorts(20000...39999).staticBand == 128)
        #expect(ServiceAllocation.clusterIPs(IPv4Network("10.96.0.0/12")!).staticBand == 256)
    }

    @Test func clusterIPOffsetsSkipNetworkAndBroadcast() {
        let subnet = IPv4Network("10.96.0.0/12")!
        let ips = ServiceAllocation.clusterIPs(subnet)
        #expect(ips.size == (1 << 20) - 2)
        #expect(ServiceAllocation.offset(of: IPv4Address("10.96.0.1")!, in: subnet) == 0)
        #expect(ServiceAllocation.offset(of: IPv4Address("10.96.0.10")!, in: subnet) == 9)
        #expect(ServiceAllocation.offset(of: IPv4Address("10.111.255.254")!, in: subnet) == ips.size - 1)
        #expect(ServiceAllocation.offset(of: IPv4Address("10.96.0.0")!, in: subnet) == nil)
        #expect(ServiceAllocation.offset(of: IPv4Address("10.111.255.255")!, in: subnet) == nil)
        #expect(ServiceAllocation.offset(of: IPv4Address("10.112.0.1")!, in: subnet) == nil)
        #expect(ServiceAllocation.address(at: 19, in: subnet) == IPv4Address("10.96.0.20"))
    }

    @Test func upperBandFirstThenLowerNeverReserved() {
        var ips = ServiceAllocation.clusterIPs(IPv4Network("10.96.0.0/24")!)   // 254 offsets, band 16
        var random = SeededGenerator(seed: 7).stream("clusterip")
        var got: [Int] = []
        while let offset = ips.allocateNext(using: &random) { got.append(offset) }
        #expect(got.count == 252)                                  // all but .1 and .10
        #expect(Set(got).count == 252)
        #expect(got.prefix(238).allSatisfy { $0 >= 16 })           // the upper band, 10.96.0.17-.254
        #expect(got.suffix(14).allSatisfy { $0 < 16 })             // then the static band
        #expect(!got.contains(0) && !got.contains(9))
    }

    @Test func sameSeedSameValues() {
        func draw(_ seed: UInt64) -> [Int] {
            var ports = ServiceAllocation.nodePorts(30000...32767)
            var random = SeededGenerator(seed: seed).stream("nodeport")
            return (0..<20).compactMap { _ in ports.allocateNext(using: &random) }
        }
        #expect(draw(1) == draw(1))
        #expect(draw(1) != draw(2))
        #expect(draw(1).allSatisfy { $0 >= 86 })
    }

    /// `n` Services, the last one writing `lastClusterIP`, in a cluster with `cluster`.
    private func services(_ n: Int, cluster: String, lastClusterIP: String? = nil, type: String = "ClusterIP") -> String {
        var yaml = Fixtures.header + "  cluster: \(cluster)\n" + Fixtures.oneNode
        for i in 0..<n {
            let ip = i == n - 1 ? lastClusterIP.map { "clusterIP: \($0), " } ?? "" : ""
            yaml += "---\napiVersion: v1\nkind: Service\nmetadata: {name: s\(i)}\nspec: {type: \(type), \(ip)ports: [{port: 80, protocol: UDP}]}\n"
        }
        return yaml
    }

    @Test func writtenClusterIPsAreTakenFirst() throws {
        // 10.96.0.0/28: .1-.14, no static band; .1 and .10 are never allocated, so 12 remain
        // for the Services that write none. The last Service writes .14, and the 11 before it
        // (allocated after it) fill exactly the rest.
        let t = try Fixtures.parse(services(12, cluster: "{serviceSubnet: 10.96.0.0/28}", lastClusterIP: "10.96.0.14"))
        let last = t.services.map { Int($0.clusterIP.rawValue & 0xFF) }
        #expect(last.last == 14)
        #expect(Set(last) == Set([2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14]))
        // One more Service does not fit: the last one allocated (s11, file order after the
        // written .14) finds the subnet full.
        expectError(services(13, cluster: "{serviceSubnet: 10.96.0.0/28}", lastClusterIP: "10.96.0.14"),
                    line: 64, column: 1, path: "spec.clusterIP", ["serviceSubnet 10.96.0.0/28 has no free ClusterIP left for Service s11", "larger"])
    }

    @Test func allocationFollowsTheSeed() throws {
        let a = try Fixtures.parse(services(5, cluster: "{}"))
        let b = try Fixtures.parse(services(5, cluster: "{}"))
        let c = try Fixtures.parse(services(5, cluster: "{}").replacingOccurrences(of: "spec:\n", with: "spec:\n  seed: 2\n"))
        #expect(a.services.map(\.clusterIP) == b.services.map(\.clusterIP))
        #expect(a.services.map(\.clusterIP) != c.services.map(\.clusterIP))
        #expect(a.services.allSatisfy { $0.clusterIP > IPv4Address("10.96.1.0")! })
    }

    @Test func nodePortsComeFromTheUpperBandOfTheRange() throws {
        let t = try Fixtures.parse(services(5, cluster: "{}", type: "NodePort"))
        let ports = t.services.compactMap { $0.ports[0].nodePort }
        #expect(ports.count == 5)
        #expect(ports.allSatisfy { (30086...32767).contains($0) })
        #expect(Set(ports).count == 5)
        // A range of 16 ports has no static band and holds 16 node ports.
        let full = try Fixtures.parse(services(16, cluster: "{serviceNodePortRange: 30000-30015}", type: "NodePort"))
        #expect(Set(full.services.compactMap { $0.ports[0].nodePort }) == Set(30000...30015))
        #expect(full.cluster.serviceNodePortRange == 30000...30015)
        expectError(services(17, cluster: "{serviceNodePortRange: 30000-30015}", type: "NodePort"),
                    line: 92, column: 32, path: "spec.ports[0].nodePort", ["node port range 30000-30015 has no free port left for Service s16"])
    }
}
