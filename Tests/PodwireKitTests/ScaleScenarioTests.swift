/// Tests of ScaleScenario.swift at a size the suite can afford (20 nodes, 200 Services):
/// the cluster's shape, every node's kube-proxy chains, traffic that arrives, determinism.
/// Nothing here is timed: `podwire bench engine` measures the 250-node cluster.

import Datapath
import Engine
import Kube
import PodwireKit
import Testing
import Wire

@Suite struct ScaleScenarioTests {
    static let small = ScaleScenario.Size(nodes: 20, podsPerNode: 50, services: 200, senders: 20)

    @Test func clusterHasTheShapeAsked() throws {
        let s = ScaleScenario(Self.small)
        let c = s.cluster
        #expect(c.nodes.count == 20)
        #expect(c.pods.count == 1000)
        #expect(c.pods.allSatisfy { $0.phase == .running })
        #expect(c.nodes.allSatisfy { node in c.pods.filter { $0.nodeName == node.name }.count == 50 })
        #expect(c.services.count == 200)
        #expect(Set(s.serviceIPs).count == 200)
        #expect(c.serviceEndpoints().allSatisfy { $0.endpoints.count == 1 && $0.endpoints[0].count == 5 })
        for node in c.nodes {
            let nat = try #require(c.world.namespace(node.netns).netfilter).rules.ruleset.nat
            #expect(nat.chains.filter { $0.name.hasPrefix("KUBE-SVC-") }.count == 200)
            #expect(nat.chains.filter { $0.name.hasPrefix("KUBE-SEP-") }.count == 1000)
            // One rule per Service port, then the jump to KUBE-NODEPORTS.
            #expect(nat.chain(named: "KUBE-SERVICES")?.rules.count == 201)
        }
    }

    @Test func trafficToRandomServicesArrives() throws {
        let s = ScaleScenario(Self.small)
        let (sent, received) = s.runTraffic(for: .milliseconds(100))
        // 20 senders × 3 datagrams × 10 ticks.
        #expect(sent == 600)
        #expect(received == sent)
        #expect(s.sendErrors == 0)
        #expect(s.conservationHolds)
        #expect(s.rulesWalked > 0)
    }

    @Test func sameSeedSameRun() throws {
        let runs = (0..<2).map { _ in
            let s = ScaleScenario(ScaleScenario.Size(nodes: 6, podsPerNode: 10, services: 12, senders: 6))
            let result = s.runTraffic(for: .milliseconds(50))
            return [UInt64(result.sent), UInt64(result.received), s.rulesWalked, s.cluster.world.scheduler.eventsProcessed]
        }
        #expect(runs[0] == runs[1])
    }

    @Test func sizesThatCannotBeBuiltSayWhy() {
        #expect(ScaleScenario.Size.full.problem == nil)
        #expect(ScaleScenario.Size(nodes: 300, podsPerNode: 20, services: 10).problem?.contains("1…256") == true)
        #expect(ScaleScenario.Size(nodes: 2, podsPerNode: 2, services: 1, podsPerService: 5).problem?.contains("pod count") == true)
        #expect(ScaleScenario.Size(nodes: 2, podsPerNode: 254, services: 1).problem?.contains("podsPerNode") == true)
    }
}
