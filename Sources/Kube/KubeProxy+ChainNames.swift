import Crypto

/// kube-proxy's per-Service and per-endpoint chain names, computed exactly as a real
/// cluster does so podwire's rule sets read (and diff) like `iptables-save` of a node.
///
/// Source: `kubernetes/kubernetes:pkg/proxy/iptables/proxier.go` (v1.28 generation,
/// `portProtoHash`, `servicePortPolicyClusterChain`, `servicePortEndpointChainName`):
/// prefix + the first 16 characters of `base32(sha256(servicePortName + protocol [+ endpoint]))`,
/// base32 being Go's `base32.StdEncoding` (RFC 4648 alphabet `A–Z2–7`). The truncation keeps
/// names within iptables' 28-character limit. Verified names: k8s-datapath.md §6.2 and
/// kernel-ref `out/state/chain-names.txt`.
extension KubeProxy {
    /// `KUBE-SVC-`: the Service port's endpoints under the Cluster traffic policy.
    public static let clusterPolicyChainPrefix = "KUBE-SVC-"
    /// `KUBE-SVL-`: only this node's endpoints (externalTrafficPolicy Local).
    public static let localPolicyChainPrefix = "KUBE-SVL-"
    /// `KUBE-EXT-`: where NodePort (and external/LB IP) traffic enters.
    public static let externalChainPrefix = "KUBE-EXT-"
    /// `KUBE-FW-`: loadBalancerSourceRanges filtering (not generated: podwire has no LB IPs).
    public static let firewallChainPrefix = "KUBE-FW-"
    /// `KUBE-SEP-`: one endpoint's hairpin-masquerade and DNAT rules.
    public static let endpointChainPrefix = "KUBE-SEP-"

    /// `prefix` + the first 16 characters of base32(sha256(servicePortName + protocol)).
    /// `servicePortName` is `"ns/name:port"`, or `"ns/name"` when the port is unnamed;
    /// `protocol` is lower case (`tcp`, `udp`, `sctp`).
    public static func serviceChainName(prefix: String, servicePortName: String, protocol: String) -> String {
        prefix + hashPrefix(servicePortName + `protocol`)
    }

    /// `"KUBE-SEP-"` + the first 16 characters of base32(sha256(servicePortName + protocol +
    /// endpoint)), `endpoint` being `"ip:port"` (`10.244.0.3:8080`).
    public static func endpointChainName(servicePortName: String, protocol: String, endpoint: String) -> String {
        endpointChainPrefix + hashPrefix(servicePortName + `protocol` + endpoint)
    }

    /// `proxy.ServicePortName.String()`: `"ns/name:port"`, or `"ns/name"` for an unnamed port
    /// (kubernetes `pkg/proxy/types.go`: the `:port` suffix only when `Port != ""`).
    public static func servicePortName(_ service: ServiceDefinition, _ port: ServicePort) -> String {
        let base = "\(service.namespace)/\(service.name)"
        guard let name = port.name, !name.isEmpty else { return base }
        return "\(base):\(name)"
    }

    /// `strings.ToLower(string(v1.Protocol))` for the protocols a Service port may carry.
    /// Numbers outside TCP/UDP/SCTP (which the API rejects) print as their decimal value.
    public static func protocolName(_ number: UInt8) -> String {
        switch number {
        case 6: "tcp"
        case 17: "udp"
        case 132: "sctp"
        default: String(number)
        }
    }

    /// The first 16 base32 characters of SHA-256(`text`): they cover the first 10 bytes.
    static func hashPrefix(_ text: String) -> String {
        var hasher = SHA256()
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        let digest = Array(hasher.finalize())
        return String(Base32.encode(digest).prefix(16))
    }
}

/// RFC 4648 §6 base32 (Go's `base32.StdEncoding`): 5-bit groups, big-endian, alphabet
/// `A–Z2–7`, `=` padding to a multiple of 8 characters.
enum Base32 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 4) / 5 * 8)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 0x1F)])
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1F)]) }
        while out.count % 8 != 0 { out.append(UInt8(ascii: "=")) }
        return String(decoding: out, as: UTF8.self)
    }
}
