/// Tests of Cluster+Services.swift at more than two nodes: endpoints found through the label
/// index are those a scan of every pod finds, and `programNodeNetfilter`'s shared work
/// (`KubeProxySync`, rulesets compiled by patching the previous node's) loads on each node
/// exactly the rules, and the compiled program, that node gets when built on its own.

import Testing
@testable import Datapath
@testable import Kube
import Engine
import Wire

@Suite struct ClusterServicesTests {
    static let pi4 = NodeProfile.named("raspberry-pi-4b")!

    /// Four flannel-VXLAN nodes; Services of every kind kube-proxy writes differently per
    /// node or not: ClusterIP, NodePort with the Local policy (endpoints on two nodes only),
    /// ClientIP affinity (`-m recent`), one without endpoints, one in another namespace,
    /// one with a two-label selector.
    static func cluster() throws -> Cluster {
        let c = Cluster(ClusterConfiguration(seed: 7, network: .flannelVXLAN), nodes: (0..<4).map { k in
            NodeDefinition(name: "n\(k + 1)", profile: pi4, address: IPv4Interface("192.168.50.\(11 + k)/24")!,
                           podCIDR: IPv4Network("10.244.\(k).0/24")!)
        })
        let udp = [Container(name: "s", image: "s", ports: [ContainerPort(name: "p", containerPort: 5201, protocol: "UDP")])]
        for i in 0..<12 {
            c.addPod(PodDefinition(name: "web-\(i)", labels: [Label("app", "web"), Label("tier", i % 2 == 0 ? "a" : "b")],
                                   nodeName: "n\(i % 4 + 1)", containers: udp))
        }
        c.addPod(PodDefinition(name: "local-0", labels: [Label("app", "local")], nodeName: "n2", containers: udp))
        c.addPod(PodDefinition(name: "local-1", labels: [Label("app", "local")], nodeName: "n4", containers: udp))
        c.addPod(PodDefinition(name: "web-0", namespace: "other", labels: [Label("app", "web")], nodeName: "n3", containers: udp))
        let port = [ServicePort(name: "p", port: 80, targetPort: .name("p"))]
        c.addService(ServiceDefinition(name: "web", clusterIP: IPv4Address(10, 96, 0, 10), selector: [Label("app", "web")], ports: port))
        c.addService(ServiceDefinition(name: "web-a", clusterIP: IPv4Address(10, 96, 0, 11),
                                       selector: [Label("app", "web"), Label("tier", "a")], ports: port))
        c.addService(ServiceDefinition(name: "local", type: .nodePort, clusterIP: IPv4Address(10, 96, 0, 12),
                                       selector: [Label("app", "local")],
                                       ports: [ServicePort(name: "p", port: 80, targetPort: .name("p"), nodePort: 30080)],
                                       externalTrafficPolicy: .local))
        c.addService(ServiceDefinition(name: "sticky", clusterIP: IPv4Address(10, 96, 0, 13), selector: [Label("app", "web")],
                                       ports: port, sessionAffinity: .clientIP(timeoutSeconds: 600)))
        c.addService(ServiceDefinition(name: "none", clusterIP: IPv4Address(10, 96, 0, 14), selector: [Label("app", "nothing")],
                                       ports: port))
        c.addService(ServiceDefinition(name: "web", namespace: "other", clusterIP: IPv4Address(10, 96, 0, 15),
                                       selector: [Label("app", "web")], ports: port))
        return c
    }

    @Test func endpointsFromTheLabelIndexAreThoseOfAFullScan() throws {
        let c = try Self.cluster()
        let running = c.pods.map { p in (definition: p.definition, ip: p.ip!, nodeName: p.nodeName!, ready: true) }
        let scanned = c.services.map { Endpoints.resolve($0, pods: running) }
        #expect(c.serviceEndpoints() == scanned)
        #expect(scanned.map { $0.endpoints[0].count } == [12, 6, 2, 12, 0, 1])
    }

    @Test func everyNodeLoadsTheRulesAndProgramItWouldGetOnItsOwn() throws {
        let c = try Self.cluster()
        try c.programNodeNetfilter()
        for node in c.nodes {
            let loaded = try #require(c.world.namespace(node.netns).netfilter).rules
            let alone = c.ruleset(for: node)
            #expect(loaded.ruleset == alone, "\(node.name)")
            let fresh = try Netfilter(alone)
            #expect(Array(UnsafeBufferPointer(start: loaded.rules, count: loaded.ruleCount))
                    == Array(UnsafeBufferPointer(start: fresh.rules, count: fresh.ruleCount)), "\(node.name)")
            #expect(Array(UnsafeBufferPointer(start: loaded.matches, count: loaded.matchCount))
                    == Array(UnsafeBufferPointer(start: fresh.matches, count: fresh.matchCount)), "\(node.name)")
        }
        // The Local policy's KUBE-SVL- chain lists each node's own endpoints.
        let svl = { (n: Int) in
            c.world.namespace(c.nodes[n].netns).netfilter!.rules.ruleset.nat.chains.filter { $0.name.hasPrefix("KUBE-SVL-") }
        }
        #expect(svl(0).isEmpty && svl(2).isEmpty)
        #expect(svl(1).count == 1 && svl(3).count == 1 && svl(1)[0].rules != svl(3)[0].rules)
    }

    /// Programming twice (a resync) loads the same rules, as `KubeProxy.program` promises.
    @Test func programmingAgainChangesNothing() throws {
        let c = try Self.cluster()
        try c.programNodeNetfilter()
        let first = c.nodes.map { c.world.namespace($0.netns).netfilter!.rules.ruleset }
        try c.programNodeNetfilter()
        #expect(c.nodes.map { c.world.namespace($0.netns).netfilter!.rules.ruleset } == first)
    }
}
