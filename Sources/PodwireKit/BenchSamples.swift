/// The repeated wall-clock measurements of one `podwire bench engine` figure.
///
/// Why repeat: on the 2-core development VM one run of a scenario can come out 25–40% low
/// (another tenant, the host: a VXLAN run of 949 k packets/s among runs of ~1.52 M, a bridged
/// one of 2.83 M among ~3.9 M), and one low bridged run once made the VXLAN/bridged ratio look
/// better than it was. The bench therefore runs the engine hold model and each packet
/// scenario `--runs` times (3 by default) and reports the median, and prints every run so
/// the spread stays visible.
///
/// Why warm up the capture-on scenarios: they write 2–3 GB of pcap into tmpfs per run, into
/// page-cache pages the kernel takes from free memory. On a VM whose memory the host backs
/// lazily (this Firecracker VM has virtio-balloon free page reporting on), the first write to
/// a guest page since the host last backed it faults to the host. That explanation fits what
/// was measured: the first capture-on run of a session was 4–5× slower than the next ones
/// (bridged, 500 k datagrams: 152 k packets/s with 6.5 s of system time, then 725–777 k with
/// 1.4–1.5 s, back to back and after pauses of 5 and 10 s). That is the hypervisor's cost,
/// paid once per page, not podwire's or the guest kernel's per packet, so by default each
/// capture-on scenario first runs once untimed (`--capture-warm-up-runs`); its rate is still
/// printed, not reported as the figure.
struct BenchSamples: Equatable {
    /// Rates of the untimed warm-up runs, in the order run.
    var warmUp: [Double] = []
    /// Rates of the timed runs, in the order run.
    var timed: [Double] = []

    /// The median of the timed runs (the mean of the middle two for an even count); nil
    /// before any timed run.
    var median: Double? {
        guard !timed.isEmpty else { return nil }
        let sorted = timed.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// "3883782 delivered packets/s (median of 3 runs: 3714901, 3883782, 3907429; warm-up
    /// run, not counted: 152473)".
    var summary: String { summary(unit: "delivered packets/s") }

    /// The same with another unit ("events/s" for the engine hold model).
    func summary(unit: String) -> String {
        let figure = median.map { String(Int($0)) } ?? "no run"
        var text = "\(figure) \(unit)"
        if timed.count > 1 {
            text += " (median of \(timed.count) runs: " + timed.map { String(Int($0)) }.joined(separator: ", ")
        } else {
            text += " (1 run"
        }
        if !warmUp.isEmpty {
            text += "; warm-up run\(warmUp.count > 1 ? "s" : ""), not counted: "
                + warmUp.map { String(Int($0)) }.joined(separator: ", ")
        }
        return text + ")"
    }
}
