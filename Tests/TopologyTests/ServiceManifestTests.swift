/// `v1 Service` documents: defaults, the API server's per-object rules, types and features
/// that are not modelled, and valid fields that are accepted and ignored.

import Testing
import Wire
@testable import Topology

/// Header + one node + a Service: `apiVersion` on line 8, `metadata` on 10, `spec:` on 11, the
/// first line of `spec` on 12.
func serviceFile(_ spec: String, metadata: String = "{name: web}") -> String {
    Fixtures.header + Fixtures.oneNode + "---\napiVersion: v1\nkind: Service\nmetadata: \(metadata)\nspec:\n" + spec
}

@Suite struct ServiceManifestTests {
    @Test func defaultsAreTheAPIServers() throws {
        let t = try Fixtures.parse(serviceFile("""
              selector: {app: web, tier: front}
              ports: [{port: 80}]
            """))
        let s = try #require(t.services.first)
        #expect(s.name == "web")
        #expect(s.namespace == "default")
        #expect(s.type == .clusterIP)
        #expect(s.selector.map(\.key) == ["app", "tier"])
        #expect(s.ports == [ServicePortSpec(name: nil, protocol: "TCP", port: 80, targetPort: .number(80), nodePort: nil)])
        #expect(s.externalTrafficPolicy == "Cluster")
        #expect(s.sessionAffinity == "None")
        #expect(s.sessionAffinityTimeoutSeconds == 10800)
        #expect(s.location.line == 8)
        // Allocated from the upper band of 10.96.0.0/12: after 10.96.1.0.
        #expect(IPv4Network("10.96.0.0/12")!.contains(s.clusterIP))
        #expect(s.clusterIP > IPv4Address("10.96.1.0")!)
        #expect(t.cluster.serviceNodePortRange == 30000...32767)
    }

    @Test func everyModelledFieldIsRead() throws {
        let t = try Fixtures.parse(serviceFile("""
              type: NodePort
              clusterIP: 10.96.0.20
              clusterIPs: [10.96.0.20]
              selector: {app: web}
              externalTrafficPolicy: Local
              internalTrafficPolicy: Cluster
              sessionAffinity: ClientIP
              sessionAffinityConfig: {clientIP: {timeoutSeconds: 86400}}
              ipFamilies: [IPv4]
              ipFamilyPolicy: SingleStack
              ports:
                - {name: http, protocol: UDP, port: 80, targetPort: http, nodePort: 30080, appProtocol: kubernetes.io/h2c}
                - {name: dns, protocol: UDP, port: 53, targetPort: 5353}
                - {name: dns-tcp, protocol: TCP, port: 53, targetPort: 0}
            """))
        let s = try #require(t.services.first)
        #expect(s.type == .nodePort)
        #expect(s.clusterIP == IPv4Address("10.96.0.20"))
        #expect(s.externalTrafficPolicy == "Local")
        #expect(s.sessionAffinity == "ClientIP")
        #expect(s.sessionAffinityTimeoutSeconds == 86400)
        #expect(s.ports.map(\.name) == ["http", "dns", "dns-tcp"])
        #expect(s.ports.map(\.protocol) == ["UDP", "UDP", "TCP"])
        #expect(s.ports.map(\.targetPort) == [.name("http"), .number(5353), .number(53)])   // targetPort 0 → port
        #expect(s.ports[0].nodePort == 30080)
        // 53/UDP and 53/TCP share one allocated node port, as kube-apiserver's initNodePorts does.
        let dns = try #require(s.ports[1].nodePort)
        #expect(s.ports[2].nodePort == dns)
        #expect((30086...32767).contains(dns))
    }

    @Test func validButUnmodelledFieldsAreIgnored() throws {
        let t = try Fixtures.parse(serviceFile("""
              selector: {app: web}
              publishNotReadyAddresses: true
              trafficDistribution: PreferClose
              ipFamilyPolicy: PreferDualStack
              ports: [{port: 80, protocol: UDP}]
            status: {loadBalancer: {}}
            """, metadata: "{name: web, namespace: shop, labels: {app: web}, annotations: {a: b}, uid: x}"))
        #expect(t.services.map(\.namespace) == ["shop"])
    }

    @Test func serviceNamesAreDNS1035Labels() {
        expectError(serviceFile("  ports: [{port: 80}]\n", metadata: "{name: 1web}"),
                    line: 10, column: 18, path: "metadata.name", ["DNS-1035 label", "starting with a letter", "got \"1web\"", "must start with a letter"])
        expectError(serviceFile("  ports: [{port: 80}]\n", metadata: "{name: web.shop}"),
                    line: 10, column: 18, path: "metadata.name", ["DNS-1035 label", "got \"web.shop\"", "such as `web`"])
    }

    @Test func misspeltFieldsGetDidYouMean() {
        let yaml = serviceFile("""
              selecter: {app: web}
              ports: [{port: 80, targetport: 8080}]
            """)
        expectError(yaml, line: 12, column: 3, path: "spec.selecter",
                    ["unknown field `selecter`", "not a Kubernetes field name", "did you mean `selector`?", "kubectl explain service.spec"])
        expectError(yaml, line: 13, column: 22, path: "spec.ports[0].targetport",
                    ["unknown field `targetport`", "did you mean `targetPort`?", "kubectl explain service.spec.ports"])
        #expect(Fixtures.errors(yaml).count == 2)
    }

    @Test func apiVersionMustBeV1() {
        expectError(Fixtures.header + Fixtures.oneNode + "---\napiVersion: apps/v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n",
                    line: 8, column: 13, path: "apiVersion", ["expected apiVersion v1 for kind Service", "got \"apps/v1\""])
    }

    // MARK: type

    @Test func loadBalancerAndExternalNameAreNotModelled() {
        expectError(serviceFile("  type: LoadBalancer\n  ports: [{port: 80}]\n"),
                    line: 12, column: 9, path: "spec.type", ["LoadBalancer is not modelled", "use `type: NodePort`"])
        expectError(serviceFile("  type: ExternalName\n  externalName: example.com\n"),
                    line: 12, column: 9, path: "spec.type", ["ExternalName is not modelled", "DNS CNAME"])
    }

    @Test func unknownTypeWithDidYouMean() {
        expectError(serviceFile("  type: Nodeport\n  ports: [{port: 80}]\n"),
                    line: 12, column: 9, path: "spec.type", ["expected type ClusterIP or NodePort", "got \"Nodeport\"", "did you mean `NodePort`?"])
    }

    @Test func headlessServicesAreNotModelled() {
        expectError(serviceFile("  clusterIP: None\n  ports: [{port: 80}]\n"),
                    line: 12, column: 14, path: "spec.clusterIP", ["headless Service (clusterIP: None) is not modelled", "remove `clusterIP: None`"])
        expectError(serviceFile("  clusterIPs: [None]\n  ports: [{port: 80}]\n"),
                    line: 12, column: 16, path: "spec.clusterIPs[0]", ["headless Service"])
    }

    // MARK: ports

    @Test func portsAreRequired() {
        expectError(serviceFile("  ports: []\n"), line: 12, column: 10, path: "spec.ports", ["at least one port", "got an empty list"])
        expectError(serviceFile("  selector: {app: web}\n"), line: 12, column: 3, path: "spec", ["missing required field `ports`"])
    }

    @Test func severalPortsNeedUniqueDNS1123Names() {
        let yaml = serviceFile("""
              ports:
                - {port: 80}
                - {name: http, port: 81}
                - {name: http, port: 82}
                - {name: HTTP, port: 83}
            """)
        expectError(yaml, line: 13, column: 7, path: "spec.ports[0].name", ["missing required field `name`", "more than one port"])
        expectError(yaml, line: 15, column: 7, path: "spec.ports[2].name", ["duplicate port name \"http\"", "spec.ports[1]"])
        expectError(yaml, line: 16, column: 14, path: "spec.ports[3].name", ["DNS-1123 label", "got \"HTTP\""])
        #expect(Fixtures.errors(yaml).count == 3)
    }

    @Test func portNumbersAndProtocols() {
        let yaml = serviceFile("""
              ports:
                - {name: a, port: 0}
                - {name: b, port: 70000}
                - {name: c, port: 80, protocol: SCTP}
                - {name: d, port: 81, protocol: udp}
                - {name: e, port: "82"}
            """)
        expectError(yaml, line: 13, column: 23, path: "spec.ports[0].port", ["between 1 and 65535", "got 0"])
        expectError(yaml, line: 14, column: 23, path: "spec.ports[1].port", ["between 1 and 65535", "got 70000"])
        expectError(yaml, line: 15, column: 37, path: "spec.ports[2].protocol", ["SCTP is not modelled", "`protocol: UDP`"])
        expectError(yaml, line: 16, column: 37, path: "spec.ports[3].protocol", ["expected TCP, UDP or SCTP", "write it in capitals: `protocol: UDP`"])
        expectError(yaml, line: 17, column: 23, path: "spec.ports[4].port", ["got the string \"82\"", "remove the quotes"])
    }

    @Test func duplicatePortAndProtocol() throws {
        expectError(serviceFile("""
              ports:
                - {name: a, port: 53, protocol: UDP}
                - {name: b, port: 53, protocol: UDP}
            """), line: 14, column: 7, path: "spec.ports[1].port", ["duplicate port 53/UDP", "spec.ports[0]", "another protocol"])
        // The same number with another protocol is fine (DNS on 53/UDP and 53/TCP).
        let t = try Fixtures.parse(serviceFile("  ports: [{name: a, port: 53, protocol: UDP}, {name: b, port: 53}]\n"))
        #expect(t.services[0].ports.map(\.protocol) == ["UDP", "TCP"])
    }

    @Test func targetPorts() {
        let yaml = serviceFile("""
              ports:
                - {name: a, port: 80, targetPort: "8080"}
                - {name: b, port: 81, targetPort: 70000}
                - {name: c, port: 82, targetPort: http_alt}
                - {name: d, port: 83, targetPort: http--x}
            """)
        expectError(yaml, line: 13, column: 39, path: "spec.ports[0].targetPort", ["got the string \"8080\"", "needs a letter", "remove the quotes: `targetPort: 8080`"])
        expectError(yaml, line: 14, column: 39, path: "spec.ports[1].targetPort", ["between 0 and 65535", "got 70000"])
        expectError(yaml, line: 15, column: 39, path: "spec.ports[2].targetPort", ["port number or a container port name", "got \"http_alt\""])
        expectError(yaml, line: 16, column: 39, path: "spec.ports[3].targetPort", ["no '--'"])
    }

    @Test func aTargetPortNameNoPodDeclaresIsFine() throws {
        // Kubernetes allows it: the Service just has no endpoint for that port.
        let t = try Fixtures.parse(serviceFile("  selector: {app: web}\n  ports: [{port: 80, targetPort: metrics}]\n"))
        #expect(t.services[0].ports[0].targetPort == .name("metrics"))
    }

    @Test func nodePortOnlyForTypeNodePort() {
        expectError(serviceFile("  ports: [{port: 80, nodePort: 30080}]\n"),
                    line: 12, column: 32, path: "spec.ports[0].nodePort", ["nodePort may not be used when `type` is 'ClusterIP'", "add `type: NodePort`"])
    }

    @Test func nodePortsWithinOneService() throws {
        let yaml = serviceFile("""
              type: NodePort
              ports:
                - {name: a, port: 80, protocol: UDP, nodePort: 30080}
                - {name: b, port: 81, protocol: UDP, nodePort: 30080}
                - {name: c, port: 82, nodePort: 30080}
            """)
        expectError(yaml, line: 15, column: 52, path: "spec.ports[1].nodePort", ["duplicate nodePort 30080/UDP", "spec.ports[0]"])
        expectError(yaml, line: 16, column: 37, path: "spec.ports[2].nodePort", ["nodePort 30080 is already used by spec.ports[0] (port 80)", "same number"])
        // One number with two protocols may share one node port.
        let t = try Fixtures.parse(serviceFile("""
              type: NodePort
              ports: [{name: a, port: 53, protocol: UDP, nodePort: 30053}, {name: b, port: 53, nodePort: 30053}]
            """))
        #expect(t.services[0].ports.map(\.nodePort) == [30053, 30053])
    }

    @Test func clusterIPSyntax() {
        expectError(serviceFile("  clusterIP: 10.96.0.300\n  ports: [{port: 80}]\n"),
                    line: 12, column: 14, path: "spec.clusterIP", ["expected an IPv4 address", "got \"10.96.0.300\""])
        expectError(serviceFile("  clusterIP: fd00::20\n  ports: [{port: 80}]\n"),
                    line: 12, column: 14, path: "spec.clusterIP", ["IPv6 ClusterIP is not modelled"])
        expectError(serviceFile("  clusterIP: 10.96.0.20\n  clusterIPs: [10.96.0.21]\n  ports: [{port: 80}]\n"),
                    line: 13, column: 16, path: "spec.clusterIPs[0]", ["must match clusterIP", "\"10.96.0.20\""])
        expectError(serviceFile("  clusterIPs: [10.96.0.20, fd00::20]\n  ports: [{port: 80}]\n"),
                    line: 12, column: 28, path: "spec.clusterIPs[1]", ["dual-stack Service, which is not modelled"])
    }

    @Test func emptyClusterIPMeansAllocate() throws {
        let t = try Fixtures.parse(serviceFile("  clusterIP: \"\"\n  ports: [{port: 80}]\n"))
        #expect(IPv4Network("10.96.0.0/12")!.contains(t.services[0].clusterIP))
    }

    // MARK: policies

    @Test func externalTrafficPolicyOnlyForNodePort() {
        expectError(serviceFile("  externalTrafficPolicy: Cluster\n  ports: [{port: 80}]\n"),
                    line: 12, column: 26, path: "spec.externalTrafficPolicy", ["may only be set for externally-accessible services", "type ClusterIP"])
        expectError(serviceFile("  type: NodePort\n  externalTrafficPolicy: local\n  ports: [{port: 80}]\n"),
                    line: 13, column: 26, path: "spec.externalTrafficPolicy", ["expected Cluster or Local", "did you mean `Local`?"])
    }

    @Test func sessionAffinity() {
        expectError(serviceFile("  sessionAffinity: ClientIp\n  ports: [{port: 80}]\n"),
                    line: 12, column: 20, path: "spec.sessionAffinity", ["expected None or ClientIP", "did you mean `ClientIP`?"])
        expectError(serviceFile("  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n  ports: [{port: 80}]\n"),
                    line: 12, column: 26, path: "spec.sessionAffinityConfig", ["must not be set when session affinity is None", "sessionAffinity: ClientIP"])
        expectError(serviceFile("  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n  ports: [{port: 80}]\n"),
                    line: 13, column: 54, path: "spec.sessionAffinityConfig.clientIP.timeoutSeconds", ["between 1 and 86400", "got 0"])
        expectError(serviceFile("  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 86401}}\n  ports: [{port: 80}]\n"),
                    line: 13, column: 54, path: "spec.sessionAffinityConfig.clientIP.timeoutSeconds", ["between 1 and 86400", "got 86401"])
    }

    @Test func clientIPAffinityDefaultsToThreeHours() throws {
        let t = try Fixtures.parse(serviceFile("  sessionAffinity: ClientIP\n  ports: [{port: 80}]\n"))
        #expect(t.services[0].sessionAffinity == "ClientIP")
        #expect(t.services[0].sessionAffinityTimeoutSeconds == 10800)
    }

    @Test func featuresThatAreNotModelled() {
        expectError(serviceFile("  externalIPs: [192.168.50.200]\n  ports: [{port: 80}]\n"),
                    line: 12, column: 16, path: "spec.externalIPs", ["externalIPs are not modelled", "type: NodePort"])
        expectError(serviceFile("  loadBalancerSourceRanges: [10.0.0.0/8]\n  ports: [{port: 80}]\n"),
                    line: 12, column: 29, path: "spec.loadBalancerSourceRanges", ["only be used when `type` is 'LoadBalancer'"])
        expectError(serviceFile("  type: NodePort\n  healthCheckNodePort: 30500\n  ports: [{port: 80}]\n"),
                    line: 13, column: 24, path: "spec.healthCheckNodePort", ["'LoadBalancer' and `externalTrafficPolicy` is 'Local'"])
        expectError(serviceFile("  internalTrafficPolicy: Local\n  ports: [{port: 80}]\n"),
                    line: 12, column: 26, path: "spec.internalTrafficPolicy", ["internalTrafficPolicy Local is not modelled"])
        expectError(serviceFile("  ipFamilies: [IPv6]\n  ports: [{port: 80}]\n"),
                    line: 12, column: 16, path: "spec.ipFamilies[0]", ["IPv6 is not modelled"])
        expectError(serviceFile("  ipFamilyPolicy: RequireDualStack\n  ports: [{port: 80}]\n"),
                    line: 12, column: 19, path: "spec.ipFamilyPolicy", ["RequireDualStack needs a dual-stack cluster"])
        // An empty externalIPs list is the same as none.
        #expect(Fixtures.errors(serviceFile("  externalIPs: []\n  ports: [{port: 80}]\n")).isEmpty)
    }
}
