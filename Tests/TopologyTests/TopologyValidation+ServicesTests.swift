/// Services across documents: names, ClusterIPs, node ports.

import Testing
import Wire
@testable import Topology

@Suite struct ServiceCrossDocumentTests {
    private func twoServices(_ first: String, _ second: String, cluster: String = "") -> String {
        Fixtures.header + cluster + Fixtures.oneNode
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: \(first)\n"
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: \(second)\n"
    }

    @Test func serviceNamesAreUniquePerNamespace() throws {
        let service = "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"
        expectError(Fixtures.header + Fixtures.oneNode + service + service,
                    line: 15, column: 18, path: "metadata.name", ["duplicate Service name \"web\" in namespace default", "line 10"])
        // Another namespace, or a Pod of the same name, is fine.
        let other = "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}\n"
        let pod = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: a, image: busybox}]}\n"
        let t = try Fixtures.parse(Fixtures.header + Fixtures.oneNode + service + other + pod)
        #expect(t.services.map(\.namespace) == ["default", "shop"])
    }

    @Test func writtenClusterIPs() {
        // Service a starts on line 8 (its spec on line 11), b on line 13 (spec on line 16).
        expectError(twoServices("{clusterIP: 10.200.0.5, ports: [{port: 80}]}", "{ports: [{port: 80}]}"),
                    line: 11, column: 19, path: "spec.clusterIP", ["clusterIP 10.200.0.5 is outside serviceSubnet 10.96.0.0/12", "provided IP is not in the valid range"])
        expectError(twoServices("{clusterIP: 10.96.0.0, ports: [{port: 80}]}", "{ports: [{port: 80}]}"),
                    line: 11, column: 19, path: "spec.clusterIP", ["network address of serviceSubnet 10.96.0.0/12", "10.96.0.20"])
        expectError(twoServices("{clusterIP: 10.111.255.255, ports: [{port: 80}]}", "{ports: [{port: 80}]}"),
                    line: 11, column: 19, path: "spec.clusterIP", ["broadcast address"])
        expectError(twoServices("{clusterIP: 10.96.0.20, ports: [{port: 80}]}", "{clusterIP: 10.96.0.20, ports: [{port: 80}]}"),
                    line: 16, column: 19, path: "spec.clusterIP", ["clusterIP 10.96.0.20 is already used by Service a (line 8)", "already allocated"])
    }

    @Test func kubernetesAndKubeDNSAddressesMayBeWritten() throws {
        let t = try Fixtures.parse(twoServices("{clusterIP: 10.96.0.1, ports: [{port: 443}]}", "{clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP}]}"))
        #expect(t.services.map(\.clusterIP.description) == ["10.96.0.1", "10.96.0.10"])
    }

    @Test func writtenNodePorts() {
        expectError(twoServices("{type: NodePort, ports: [{port: 80, nodePort: 8080}]}", "{ports: [{port: 80}]}"),
                    line: 11, column: 53, path: "spec.ports[0].nodePort", ["nodePort 8080 is outside the node port range 30000-32767", "spec.cluster.serviceNodePortRange"])
        expectError(twoServices("{type: NodePort, ports: [{port: 80, nodePort: 30080}]}", "{type: NodePort, ports: [{port: 81, nodePort: 30080}]}"),
                    line: 16, column: 53, path: "spec.ports[0].nodePort", ["nodePort 30080 is already used by Service a (line 8)", "unique across the cluster"])
        expectError(twoServices("{type: NodePort, ports: [{port: 80, nodePort: 30080}]}", "{ports: [{port: 80}]}", cluster: "  cluster: {serviceNodePortRange: 31000-31999}\n"),
                    line: 12, column: 53, path: "spec.ports[0].nodePort", ["outside the node port range 31000-31999"])
    }

    @Test func nodePortRangeSyntax() throws {
        let t = try Fixtures.parse(Fixtures.header + "  cluster: {serviceNodePortRange: 30000+99}\n" + Fixtures.oneNode)
        #expect(t.cluster.serviceNodePortRange == 30000...30099)
        expectError(Fixtures.header + "  cluster: {serviceNodePortRange: 32767-30000}\n" + Fixtures.oneNode,
                    line: 5, column: 35, path: "spec.cluster.serviceNodePortRange", ["FIRST-LAST", "got \"32767-30000\"", "30000-32767"])
        expectError(Fixtures.header + "  cluster: {serviceNodePortRange: 30000:32767}\n" + Fixtures.oneNode,
                    line: 5, column: 35, path: "spec.cluster.serviceNodePortRange", ["expected a port range"])
    }
}
