/// Placeholder until the chart lands (helper branch topo-svg replaces this file).
public enum ThroughputChart {
    public static func svg(rows: [ThroughputRow], title: String) -> String { "" }
}
