import Testing
@testable import Kube
import Datapath
import Engine
import Traffic
import Wire

/// Issue 3's underlay: named switches and containerlab-style links, crossover cables,
/// static host routes, and a lone node on the LAN.
@Suite struct UnderlayTests {
    static let pi4 = NodeProfile.named("raspberry-pi-4b")!
    static func nodes(_ n: Int) -> [NodeDefinition] {
        (0..<n).map { k in
            NodeDefinition(name: "pi-\(k + 1)", profile: pi4, address: IPv4Interface("192.168.50.\(11 + k)/24")!,
                           podCIDR: IPv4Network("10.244.\(k).0/24")!)
        }
    }
    static func peer(_ d: Device) -> DeviceID? {
        if case .veth(let p) = d.kind { return p }
        return nil
    }
    static func end(_ s: String) -> LinkEnd {
        let p = s.split(separator: ":")
        return LinkEnd(machine: String(p[0]), interface: String(p[1]))
    }

    /// Two switches joined by an uplink; pi-1 on sw1, pi-2 and ext on sw2. Pod → pod over
    /// host-gw crosses both switches and the uplink, with the uplink's own rate.
    @Test func twoSwitchesJoinedByAnUplinkCarryCrossNodeTraffic() throws {
        let underlay = Underlay(switches: ["sw1", "sw2"], links: [
            UnderlayLink(Self.end("pi-1:eth0"), Self.end("sw1:p1")),
            UnderlayLink(Self.end("pi-2:eth0"), Self.end("sw2:p1")),
            UnderlayLink(Self.end("ext:eth0"), Self.end("sw2:p2")),
            UnderlayLink(Self.end("sw1:uplink"), Self.end("sw2:uplink"), rate: 100_000_000, delay: .microseconds(50)),
        ])
        let c = Cluster(ClusterConfiguration(network: .flannelHostGW, underlay: underlay), nodes: Self.nodes(2),
                        hosts: [HostDefinition(name: "ext", address: IPv4Interface("192.168.50.100/24")!)])
        #expect(c.switches.map(\.name) == ["sw1", "sw2"])
        let w = c.world
        #expect(w.device(named: "br-sw1", in: c.switches[0].netns) != nil)
        let uplink = try #require(w.device(named: "uplink", in: c.switches[0].netns))
        #expect(w.device(uplink).link?.rate == 100_000_000)
        let a = c.addPod(PodDefinition(name: "a", nodeName: "pi-1"))
        let b = c.addPod(PodDefinition(name: "b", nodeName: "pi-2"))
        let ping = try Ping(name: "ping", world: w, namespace: try #require(a.netns),
                            configuration: PingConfiguration(destination: try #require(b.ip), count: 3, interval: .milliseconds(100)))
        let extPing = try Ping(name: "ext", world: w, namespace: try #require(c.host(named: "ext")).netns,
                               configuration: PingConfiguration(destination: IPv4Address(192, 168, 50, 11), count: 2,
                                                                interval: .milliseconds(100)))
        w.run(until: SimTime.zero + .seconds(1))
        #expect(ping.received == 3)
        #expect(extPing.received == 2)
        // Each echo crossed the uplink both ways: at least 3 requests + 3 replies + ARP.
        #expect(w.device(uplink).counters.txPackets >= 4)
        #expect(w.conservationHolds())
    }

    /// A crossover cable joins two nodes' eth0s directly, with no switch.
    @Test func crossoverCableNeedsNoSwitch() throws {
        let underlay = Underlay(switches: [], links: [UnderlayLink(Self.end("pi-1:eth0"), Self.end("pi-2:eth0"))])
        let c = Cluster(ClusterConfiguration(network: .flannelVXLAN, underlay: underlay), nodes: Self.nodes(2))
        #expect(c.switches.isEmpty)
        let w = c.world
        let e1 = w.device(c.nodes[0].eth0), e2 = w.device(c.nodes[1].eth0)
        #expect(Self.peer(e1) == c.nodes[1].eth0 && Self.peer(e2) == c.nodes[0].eth0)
        #expect(e2.mac == MACAddress("02:50:00:00:00:12"))
        let a = c.addPod(PodDefinition(name: "a", nodeName: "pi-1"))
        let b = c.addPod(PodDefinition(name: "b", nodeName: "pi-2"))
        let ping = try Ping(name: "ping", world: w, namespace: try #require(a.netns),
                            configuration: PingConfiguration(destination: try #require(b.ip), count: 2, interval: .milliseconds(100)))
        w.run(until: SimTime.zero + .seconds(1))
        #expect(ping.received == 2)
        #expect(w.conservationHolds())
    }

    /// Each end of a crossover cable is its own machine's NIC: a 3B+ on either end sends at
    /// its bus cap and receives behind it, whichever of the two was cabled first.
    @Test(arguments: [false, true])
    func crossoverEndsKeepTheirOwnBusCap(_ plusFirst: Bool) throws {
        let plus = NodeProfile.named("raspberry-pi-3b-plus")!
        var nodes = Self.nodes(2)
        nodes[plusFirst ? 0 : 1].profile = plus
        let underlay = Underlay(switches: [], links: [UnderlayLink(Self.end("pi-1:eth0"), Self.end("pi-2:eth0"))])
        let c = Cluster(ClusterConfiguration(network: .flannelVXLAN, underlay: underlay), nodes: nodes)
        let (p, q) = plusFirst ? (0, 1) : (1, 0)
        let plusEth0 = c.world.device(c.nodes[p].eth0), pi4Eth0 = c.world.device(c.nodes[q].eth0)
        #expect(plusEth0.link?.rate == 300_000_000 && pi4Eth0.link?.rate == 1_000_000_000)
        #expect(plusEth0.receiveBus == ReceiveBus(rate: 300_000_000) && pi4Eth0.receiveBus == nil)
    }

    /// A crossover cable between a 10/100 Pi 3B and a gigabit Pi 4 runs at 100 Mbit/s both
    /// ways (the NICs negotiate the slower rate), whichever was cabled first.
    @Test(arguments: [false, true])
    func crossoverNegotiatesTheSlowerLineRate(_ slowFirst: Bool) throws {
        var nodes = Self.nodes(2)
        nodes[slowFirst ? 0 : 1].profile = NodeProfile.named("raspberry-pi-3b")!
        let underlay = Underlay(switches: [], links: [UnderlayLink(Self.end("pi-1:eth0"), Self.end("pi-2:eth0"))])
        let c = Cluster(ClusterConfiguration(network: .flannelVXLAN, underlay: underlay), nodes: nodes)
        #expect(c.nodes.map { c.world.device($0.eth0).link?.rate } == [100_000_000, 100_000_000])
    }

    /// A machine without a link has an eth0 without carrier.
    @Test func unlinkedMachineHasNoCarrier() throws {
        let underlay = Underlay(switches: ["sw1"], links: [UnderlayLink(Self.end("pi-1:eth0"), Self.end("sw1:p1"))])
        let c = Cluster(ClusterConfiguration(network: .flannelHostGW, underlay: underlay), nodes: Self.nodes(2))
        #expect(Self.peer(c.world.device(c.nodes[1].eth0)) == nil)
        #expect(Self.peer(c.world.device(c.nodes[0].eth0)) != nil)
    }

    /// A lone node is cabled to the automatic LAN switch, so a host can reach it.
    @Test func aLoneNodeIsOnTheLAN() throws {
        let c = Cluster(ClusterConfiguration(), nodes: Self.nodes(1))
        #expect(c.switches.map(\.name) == ["lan"])
        #expect(Self.peer(c.world.device(c.nodes[0].eth0)) != nil)
    }

    /// A host with a static route to a node's pod CIDR (as a LAN router would have under
    /// host-gw) reaches the pod; a 1472-byte DF datagram towards a pod behind flannel's MTU
    /// 1450 gets ICMP fragmentation-needed, mtu 1450, from the node (REFERENCE.md §5.6 f3's
    /// ICMP, here without the NodePort).
    @Test func hostRouteToPodsAndFragmentationNeededFromTheNode() throws {
        let ext = HostDefinition(name: "ext", address: IPv4Interface("192.168.50.100/24")!,
                                 routes: [(IPv4Network("10.244.1.0/24")!, IPv4Address(192, 168, 50, 12))])
        let c = Cluster(ClusterConfiguration(network: .flannelVXLAN), nodes: Self.nodes(2), hosts: [ext])
        let w = c.world
        let web = c.addPod(PodDefinition(name: "web-1", nodeName: "pi-2"))
        let hostNS = try #require(c.host(named: "ext")).netns
        let ping = try Ping(name: "ping", world: w, namespace: hostNS,
                            configuration: PingConfiguration(destination: try #require(web.ip), count: 2, interval: .milliseconds(100)))
        _ = try UDPEchoServer(name: "srv", world: w, namespace: try #require(web.netns), port: 8080)
        let big = try UDPEchoClient(name: "big", world: w, namespace: hostNS,
                                    configuration: UDPEchoConfiguration(server: try #require(web.ip), port: 8080, count: 1,
                                                                        length: 1472, start: SimTime.zero + .milliseconds(500),
                                                                        dontFragment: true))
        w.run(until: SimTime.zero + .seconds(1))
        #expect(ping.received == 2)
        #expect(ping.events.contains { if case .reply(let r) = $0 { r.ttl == 63 } else { false } })
        #expect(big.sent == 1)
        #expect(big.icmpErrors.map { [$0.type, $0.code] } == [[3, 4]])
        #expect(w.accounting.dropped(.mtuExceeded) == 1)
        #expect(w.conservationHolds())
    }

    /// `cluster.mtu` is the LAN's: every node's and host's eth0 and the switch ports get it,
    /// and flannel's VXLAN device and the pods get it less 50. Node NICs and switch ports used
    /// to stay at 1500 whatever the file said, so `mtu: 9000` gave pods 1450 under VXLAN, and
    /// 9000-byte pod MTUs behind 1500-byte NICs under host-gw (every full-size DF datagram
    /// across nodes got "fragmentation needed").
    @Test(arguments: [(PodNetwork.flannelVXLAN, 8950), (.flannelHostGW, 9000)])
    func theClusterMTUIsEveryLANInterfacesAndPodsFollow(_ network: PodNetwork, _ podMTU: Int) throws {
        let ext = HostDefinition(name: "ext", address: IPv4Interface("192.168.50.100/24")!)
        let c = Cluster(ClusterConfiguration(mtu: 9000, network: network), nodes: Self.nodes(2), hosts: [ext])
        let w = c.world
        let lan = [c.nodes[0].eth0, c.nodes[1].eth0, try #require(c.host(named: "ext")).eth0]
        for d in lan { #expect(w.device(d).mtu == 9000) }
        for d in lan { #expect(w.device(try #require(Self.peer(w.device(d)))).mtu == 9000) }  // switch ports
        #expect(c.podMTU == podMTU)
        let a = c.addPod(PodDefinition(name: "a", nodeName: "pi-1")), b = c.addPod(PodDefinition(name: "b", nodeName: "pi-2"))
        #expect(w.device(try #require(a.eth0)).mtu == podMTU)
        _ = try UDPEchoServer(name: "srv", world: w, namespace: try #require(b.netns), port: 8080)
        // The largest datagram that fits the pod MTU crosses whole, with DF, both ways.
        let big = try UDPEchoClient(name: "big", world: w, namespace: try #require(a.netns),
                                    configuration: UDPEchoConfiguration(server: try #require(b.ip), port: 8080, count: 2,
                                                                        length: podMTU - 28, dontFragment: true))
        w.run(until: SimTime.zero + .seconds(1))
        #expect(big.sent == 2 && big.received == 2)
        #expect(big.icmpErrors.isEmpty)
        #expect(w.accounting.dropped(.mtuExceeded) == 0)
        #expect(w.conservationHolds())
    }
}
