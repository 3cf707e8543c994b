/// Checks across fields and documents: names, addresses and CIDRs, placement, targets.

import Testing
@testable import Topology

@Suite struct TopologyValidationTests {
    let h = Fixtures.header

    @Test func duplicateNodeNames() {
        expectError(h + """
              nodes:
                - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}
                - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.12/24}
            """, line: 7, column: 14, path: "spec.nodes[1].name", ["duplicate node name \"pi-1\"", "line 6"])
    }

    @Test func duplicateNodeAddresses() {
        expectError(h + """
              nodes:
                - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}
                - {name: pi-2, profile: raspberry-pi-4b, address: 192.168.50.11/24}
            """, line: 7, column: 55, path: "spec.nodes[1].address", ["duplicate node address 192.168.50.11", "node pi-1"])
    }

    @Test func maxPodsOutOfRange() {
        expectError(Fixtures.header + """
              nodes:
                - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24, maxPods: 0}
            """, line: 6, column: 82, path: "spec.nodes[0].maxPods", ["(--max-pods) between 1 and 1000000", "got 0"])
    }

    @Test func overlappingPodCIDRs() {
        // pi-1 gets 10.244.0.0/24 by default; pi-2's /23 covers it.
        expectError(h + """
              nodes:
                - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}
                - {name: pi-2, profile: raspberry-pi-4b, address: 192.168.50.12/24, podCIDR: 10.244.0.0/23}
            """, line: 7, column: 82, path: "spec.nodes[1].podCIDR", ["10.244.0.0/23", "overlaps 10.244.0.0/24 of node pi-1"])
        // An explicit block taken by a later default one is reported at the later node.
        expectError(h + """
              nodes:
                - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24, podCIDR: 10.244.1.0/24}
                - {name: pi-2, profile: raspberry-pi-4b, address: 192.168.50.12/24}
            """, line: 7, column: 7, path: "spec.nodes[1].podCIDR", ["assigned by default", "overlaps 10.244.1.0/24 of node pi-1"])
    }

    @Test func podCIDROutsidePodSubnet() {
        expectError(h + """
              nodes:
                - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24, podCIDR: 10.42.0.0/24}
            """, line: 6, column: 82, path: "spec.nodes[0].podCIDR", ["outside podSubnet 10.244.0.0/16"])
    }

    @Test func podSubnetOverlappingServiceSubnet() {
        expectError(h + "  cluster: {podSubnet: 10.0.0.0/8, serviceSubnet: 10.96.0.0/12}\n" + Fixtures.oneNode,
                    line: 5, column: 51, path: "spec.cluster.serviceSubnet", ["overlaps podSubnet 10.0.0.0/8", "separate ranges"])
    }

    @Test func nodeAddressInsideClusterRanges() {
        expectError(h + "  nodes:\n    - {name: pi-1, profile: raspberry-pi-4b, address: 10.244.3.1/24}\n",
                    line: 6, column: 55, path: "spec.nodes[0].address", ["inside podSubnet 10.244.0.0/16"])
        expectError(h + "  nodes:\n    - {name: pi-1, profile: raspberry-pi-4b, address: 10.96.0.1/24}\n",
                    line: 6, column: 55, path: "spec.nodes[0].address", ["inside serviceSubnet 10.96.0.0/12"])
        expectError(h + "  nodes:\n    - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.0/24}\n",
                    line: 6, column: 55, path: "spec.nodes[0].address", ["network address of 192.168.50.0/24"])
    }

    @Test func nodeCIDRMaskSizeMustBeLongerThanPodSubnet() {
        expectError(h + "  cluster: {podSubnet: 10.244.0.0/16, nodeCIDRMaskSize: 16}\n" + Fixtures.oneNode,
                    line: 5, column: 57, path: "spec.cluster.nodeCIDRMaskSize", ["longer than podSubnet's /16", "got 16"])
    }

    @Test func moreNodesThanPodCIDRBlocks() {
        expectError(h + """
              cluster: {podSubnet: 10.244.0.0/23}
              nodes:
                - {name: a, profile: raspberry-pi-4b, address: 192.168.50.11/24}
                - {name: b, profile: raspberry-pi-4b, address: 192.168.50.12/24}
                - {name: c, profile: raspberry-pi-4b, address: 192.168.50.13/24}
            """, line: 7, column: 5, path: "spec.nodes", ["3 nodes need 3 pod CIDRs of /24", "holds only 2"])
    }

    @Test func podOnAMissingNode() {
        let yaml = h + Fixtures.oneNode + """
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: client}
            spec:
              nodeName: pi-9
              containers: [{name: c, image: busybox}]
            """
        expectError(yaml, line: 12, column: 13, path: "spec.nodeName", ["node \"pi-9\"", "not in the topology", "nodes: pi-1"])
    }

    @Test func nodeSelectorMatchingNoNode() {
        let yaml = h + Fixtures.oneNode + """
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: client}
            spec:
              nodeSelector: {disk: ssd}
              containers: [{name: c, image: busybox}]
            """
        expectError(yaml, line: 12, column: 17, path: "spec.nodeSelector", ["no node has the labels {disk: ssd}"])
    }

    @Test func duplicatePodNamesInANamespace() throws {
        let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, image: busybox}]}\n"
        expectError(h + Fixtures.oneNode + "---\n" + pod + "---\n" + pod,
                    line: 15, column: 18, path: "metadata.name", ["duplicate Pod name \"a\" in namespace default", "line 10"])
        // The same name in another namespace, or a Deployment of the same name, is fine.
        let other = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: kube-system}\nspec: {containers: [{name: a, image: busybox}]}\n"
        let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {selector: {matchLabels: {x: y}}, template: {metadata: {labels: {x: y}}, spec: {containers: [{name: a, image: b}]}}}\n"
        let t = try Fixtures.parse(h + Fixtures.oneNode + "---\n" + pod + "---\n" + other + "---\n" + deploy)
        #expect(t.pods.map(\.namespace) == ["default", "kube-system"])
        #expect(t.deployments.count == 1)
    }

    @Test func duplicateDeploymentNames() {
        let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {selector: {matchLabels: {x: y}}, template: {metadata: {labels: {x: y}}, spec: {containers: [{name: a, image: b}]}}}\n"
        expectError(h + Fixtures.oneNode + "---\n" + deploy + "---\n" + deploy,
                    line: 15, column: 18, path: "metadata.name", ["duplicate Deployment name \"web\""])
    }

    @Test func targetToAMissingPod() {
        let yaml = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, ping: {from: node/pi-1, to: pod/web-0}}
            """
        expectError(yaml, line: 8, column: 44, path: "spec.scenario[0].ping.to", ["pod/web-0 names no Pod", "no Pod documents"])
    }

    @Test func targetToAMissingNodeWithDidYouMean() {
        let yaml = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, ping: {from: node/pi-2, to: node/pi-1}}
            """
        expectError(yaml, line: 8, column: 29, path: "spec.scenario[0].ping.from", ["node/pi-2 names no node", "did you mean `pi-1`?"])
    }

    @Test func deployTargets() {
        let pod = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: a, image: busybox}]}\n"
        let yaml = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, ping: {from: deploy/web, to: deploy/api}}

            """ + pod
        // deploy/web names a Pod, not a Deployment: the hint says which form to use.
        expectError(yaml, line: 8, column: 29, path: "spec.scenario[0].ping.from", ["deploy/web names no Deployment", "write `pod/web`"])
        expectError(yaml, line: 8, column: 45, path: "spec.scenario[0].ping.to", ["deploy/api names no Deployment"])
    }

    @Test func deployTargetWithNoReplicas() {
        let yaml = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, ping: {from: deploy/web, to: node/pi-1}}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              replicas: 0
              selector: {matchLabels: {app: web}}
              template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: nginx}]}}
            """
        expectError(yaml, line: 8, column: 29, path: "spec.scenario[0].ping.from", ["replicas: 0", "no first replica"])
    }
}
