import Datapath
import Wire

/// flanneld `--ip-masq`: nat `FLANNEL-POSTRTG` (masquerade pod traffic leaving the cluster
/// network, never pod ↔ pod) and filter `FLANNEL-FWD` (accept forwarding to and from it).
///
/// Source: `flannel-io/flannel:network/iptables.go@034c876b` (`MasqRules`, `ForwardRules`,
/// `ipTablesCleanAndBuild`), the rule set the kernel reference loaded
/// (`pi-N.iptables-save.after.txt`; k8s-datapath.md §5). Later flannel
/// (`pkg/trafficmngr/iptables/iptables.go`) splits the pod↔pod RETURN into
/// `-s podCIDR -d cluster` and `-s cluster -d podCIDR`, moves the `! -s cluster -d podCIDR`
/// RETURN before the first MASQUERADE and appends (`-A`) its two jumps instead of inserting
/// them; podwire follows the reference's set. `kubeProxyMark` is flannel's constant
/// `0x4000/0x4000`, whatever kube-proxy's masquerade bit.
public enum FlannelMasquerade {
    public static let postroutingChain = "FLANNEL-POSTRTG"
    public static let forwardChain = "FLANNEL-FWD"
    /// `kubeProxyMark`: packets kube-proxy marked are left to `KUBE-POSTROUTING`.
    public static let kubeProxyMark: UInt32 = 0x4000

    /// Programs both chains and their jumps as a (re)starting flanneld does: each chain is
    /// created or flushed (`ClearChain`) and refilled; a jump that exists is deleted and put
    /// back (`-D` then the action). `insertAtTop` is that action for the POSTROUTING and
    /// FORWARD jumps: `-I` (position 0, network/iptables.go; so whichever of kube-proxy and
    /// flanneld programs last ends up first, REFERENCE.md §5.9) or `-A` (the newer
    /// trafficmngr code, and the order the reference's initial restore file used).
    public static func program(_ ruleset: inout NetfilterRuleset, clusterCIDR: IPv4Network, podCIDR: IPv4Network,
                               randomFully: Bool = true, insertAtTop: Bool = true) {
        ruleset.nat = bootstrap(ruleset.nat, hook: .postrouting,
                                jump: postroutingJump, chain: postroutingChain,
                                rules: masqueradeRules(clusterCIDR: clusterCIDR, podCIDR: podCIDR, randomFully: randomFully),
                                insertAtTop: insertAtTop)
        ruleset.filter = bootstrap(ruleset.filter, hook: .forward,
                                   jump: forwardJump, chain: forwardChain,
                                   rules: forwardRules(clusterCIDR: clusterCIDR), insertAtTop: insertAtTop)
    }

    /// `-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`.
    public static var postroutingJump: NetfilterRule {
        NetfilterRule(matches: [.comment("flanneld masq")], target: .jump(postroutingChain))
    }

    /// `-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`.
    public static var forwardJump: NetfilterRule {
        NetfilterRule(matches: [.comment("flanneld forward")], target: .jump(forwardChain))
    }

    /// `FLANNEL-POSTRTG`, in order: kube-proxy-marked → RETURN; pod → pod → RETURN;
    /// pod → anything but multicast → MASQUERADE; outside → this node's pods → RETURN
    /// (keeps the client address of traffic a node forwards to its own pods); outside →
    /// other nodes' pods → MASQUERADE (host traffic into the overlay).
    public static func masqueradeRules(clusterCIDR: IPv4Network, podCIDR: IPv4Network, randomFully: Bool) -> [NetfilterRule] {
        let comment = NetfilterMatch.comment("flanneld masq")
        let masquerade = NetfilterTarget.masquerade(ports: nil, randomFully: randomFully)
        let multicast = IPv4Network(address: IPv4Address(224, 0, 0, 0), prefixLength: 4)
        return [
            NetfilterRule(matches: [.mark(value: kubeProxyMark, mask: kubeProxyMark, negated: false), comment],
                          target: .returnFromChain),
            NetfilterRule(source: AddressMatch(clusterCIDR), destination: AddressMatch(clusterCIDR),
                          matches: [comment], target: .returnFromChain),
            NetfilterRule(source: AddressMatch(clusterCIDR), destination: AddressMatch(multicast, negated: true),
                          matches: [comment], target: masquerade),
            NetfilterRule(source: AddressMatch(clusterCIDR, negated: true), destination: AddressMatch(podCIDR),
                          matches: [comment], target: .returnFromChain),
            NetfilterRule(source: AddressMatch(clusterCIDR, negated: true), destination: AddressMatch(clusterCIDR),
                          matches: [comment], target: masquerade),
        ]
    }

    /// `FLANNEL-FWD`: accept anything from or to the flannel network.
    public static func forwardRules(clusterCIDR: IPv4Network) -> [NetfilterRule] {
        let comment = NetfilterMatch.comment("flanneld forward")
        return [
            NetfilterRule(source: AddressMatch(clusterCIDR), matches: [comment], target: .accept),
            NetfilterRule(destination: AddressMatch(clusterCIDR), matches: [comment], target: .accept),
        ]
    }

    /// `CreateIP4Chain` (ClearChain) then `ipTablesBootstrap`: the jump deleted if present and
    /// inserted at the top (or appended), the chain's rules written after the flush.
    static func bootstrap(_ table: NetfilterTable, hook: NetfilterHook, jump: NetfilterRule, chain: String,
                          rules: [NetfilterRule], insertAtTop: Bool) -> NetfilterTable {
        var hookRules = table.chain(named: hook.chainName)?.rules ?? []
        if let existing = hookRules.firstIndex(of: jump) { hookRules.remove(at: existing) }
        if insertAtTop { hookRules.insert(jump, at: 0) } else { hookRules.append(jump) }
        return table.restoring([(hook.chainName, hookRules), (chain, rules)])
    }
}
